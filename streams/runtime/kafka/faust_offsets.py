"""Never commit past a message that is still being processed.

With ``concurrency`` > 1, Faust's agents finish a partition's messages out of order,
and Faust (faust-streaming 0.15) commits the first run of consecutive acknowledged
offsets. Its guard against a gap at the head of that run is off by one: with offset
100 committed (the next to read) and 101 finished while 100 is still being handled, it
commits 102. A worker that dies before 100 is done then loses it: no other worker
will ever read it. (Without a committed offset, a new group's first commit has no
guard at all.) This keeps Faust's bookkeeping and adds the invariant at-least-once
needs: the committed offset never passes a message that is tracked and not acked.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer

__all__ = ("install",)

_PATCHED = "_chatstream_no_commit_past_pending"


def _blocked(consumer: Any, tp: Any) -> bool:
    acked: list[int] = consumer._acked[tp]
    if not acked:
        return False
    head = min(acked)
    # Messages handed to the agents and not yet acknowledged (a weak set: a message
    # dropped on a rebalance leaves it, and is read again from the committed offset).
    # Only messages actually seen count: an offset that never arrives (a gap left by
    # retention or a transaction marker) must not hold the commits back forever.
    return any(m.tp == tp and not m.acked and m.offset < head
               for m in list(consumer._unacked_messages))


def install() -> None:
    """Patch ``Consumer._new_offset`` once per process (idempotent)."""
    if getattr(Consumer, _PATCHED, False):
        return
    original = Consumer._new_offset

    def new_offset(self: Consumer, tp: Any) -> int | None:
        if _blocked(self, tp):
            return None
        result: int | None = original(self, tp)
        return result

    Consumer._new_offset = new_offset  # type: ignore[method-assign]
    setattr(Consumer, _PATCHED, True)
