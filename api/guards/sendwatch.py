"""A stream's sends bounded in time by one watchdog a stream, not a timer a frame.

A reader that stops reading leaves the edge's send waiting for room in its socket; the
boundary drops such a stream once one send has waited ``limit_s``. A timer armed and
cancelled around every frame (``asyncio.timeout``) costs several microseconds a frame,
a large part of relaying it. Instead each send notes when it began, and one timer a
stream looks every ``limit_s / 4``: a stuck send is cancelled between ``limit_s`` and
1.25 times ``limit_s`` after it began, and a send that completes costs two assignments.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Send

__all__ = ("SendWatch",)

# How often a stream's timer looks, as a share of the limit: the bound's slack.
CHECKS_PER_LIMIT = 4


class SendWatch:
    """The sends of one response; :meth:`close` when it ends."""

    __slots__ = ("_closed", "_expired", "_handle", "_limit_s", "_loop", "_since", "_task")

    def __init__(self, limit_s: float) -> None:
        self._limit_s = limit_s
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None  # the task of the send under way
        self._since = 0.0  # when the send under way began (0: none is)
        self._expired: asyncio.Task[object] | None = None  # cancelled by the watchdog
        self._closed = False

    async def sent(self, send: Send, message: Message) -> bool:
        """``send(message)``: True once sent, False when it waited past the limit (it was
        cancelled; the response is to end unfinished). A cancellation from elsewhere
        propagates as it came."""
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        self._task = task
        self._since = self._loop.time()
        if self._handle is None and not self._closed:
            self._handle = self._loop.call_later(self._limit_s / CHECKS_PER_LIMIT, self._check)
        try:
            await send(message)
        except asyncio.CancelledError:
            if self._expired is task:
                self._expired = None
                # As asyncio.timeout: only our own cancellation becomes a time-out.
                if task.uncancel() <= cancelling:
                    return False
            raise
        finally:
            self._since = 0.0
        return True

    def _check(self) -> None:
        since, task = self._since, self._task
        if since and task is not None and self._loop.time() - since >= self._limit_s:
            self._handle = None
            self._expired = task
            task.cancel()
            return
        self._handle = self._loop.call_later(self._limit_s / CHECKS_PER_LIMIT, self._check)

    def close(self) -> None:
        """The response has ended: the timer stops for good (it re-arms itself while the
        response lasts, and would otherwise outlive it)."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
