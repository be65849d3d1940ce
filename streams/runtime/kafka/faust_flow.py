"""Never drop a record an agent was handed and has not taken yet when the flow resumes.

Faust (faust-streaming 0.15) buffers each agent's records in a queue that mode's
``FlowControlEvent.resume()`` empties. A rebalance needs that emptying, and does it
itself: on revocation the app suspends the flow and clears the queues explicitly, so an
agent starts nothing from a generation it no longer owns. ``resume()`` empties them
once more, though, at the end of table recovery, after the stream partitions were resumed
and the committed offsets sought: the fetcher is already delivering by then (the flow
was resumed to read the changelogs), and records waiting in a slow agent's queue are
dropped. No other agent's ack makes up for it: the record's reference from that agent
is never released, so its offset is never committed, and the fetcher has moved past it,
so it is never delivered again while the worker lives. After a restart with a backlog,
requests that persistence stored were never seen by retrieval, and never answered
(tests/faults/test_crash_kafka.py). Resuming now only resumes; the explicit clear on
revocation still empties the queues.
"""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent

__all__ = ("install",)

_PATCHED = "_chatstream_resume_keeps_queues"


def install() -> None:
    """Patch ``FlowControlEvent.resume`` once per process (idempotent)."""
    if getattr(FlowControlEvent, _PATCHED, False):
        return

    def resume(self: FlowControlEvent) -> None:
        self._suspend.clear()
        self._resume.set()

    FlowControlEvent.resume = resume  # type: ignore[method-assign]
    setattr(FlowControlEvent, _PATCHED, True)
