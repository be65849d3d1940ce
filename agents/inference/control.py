"""Cancels: which answers this inference worker is generating, and which were cancelled.

The edge publishes :class:`CancelRequested` on chat.control.v1. Every inference worker
reads that topic in full, outside any consumer group (a :class:`Broadcast`), because the
edge cannot know which worker holds the request: the partition of chat.contexts.v1 that
carries it belongs to one worker of the group, and may move in a rebalance. The worker
generating the request stops it; every worker also remembers the cancel for a while, so
a request cancelled before a worker picked it up (or redelivered after a crash) stops
as soon as it starts.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from schemas.events import CancelRequested

__all__ = ("CANCEL_LOOKBACK_S", "CancelRegistry")

CANCEL_LOOKBACK_S = 600.0
"""How far back a starting worker reads the control topic, and how long it remembers."""

_Key = tuple[str, str]


class CancelRegistry:
    def __init__(self, *, remember_s: float = CANCEL_LOOKBACK_S, max_remembered: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._remember_s = remember_s
        self._max = max_remembered
        self._clock = clock
        self._running: dict[_Key, list[asyncio.Event]] = {}
        self._cancelled: OrderedDict[_Key, float] = OrderedDict()

    @contextmanager
    def track(self, tenant_id: str, request_id: str) -> Iterator[asyncio.Event]:
        """While the block runs, the returned event is set when the request is cancelled
        (already set if it was cancelled before it started)."""
        key = (tenant_id, request_id)
        event = asyncio.Event()
        if key in self._cancelled:
            event.set()
        self._running.setdefault(key, []).append(event)
        try:
            yield event
        finally:
            events = self._running.get(key, [])
            if event in events:
                events.remove(event)
            if not events:
                self._running.pop(key, None)

    def owns(self, tenant_id: str, request_id: str) -> bool:
        return (tenant_id, request_id) in self._running

    async def on_control(self, event: CancelRequested) -> None:
        key = (event.tenant_id, event.request_id)
        now = self._clock()
        self._cancelled[key] = now
        self._cancelled.move_to_end(key)
        while self._cancelled:
            oldest, at = next(iter(self._cancelled.items()))
            if len(self._cancelled) <= self._max and now - at <= self._remember_s:
                break
            del self._cancelled[oldest]
        for running in self._running.get(key, ()):
            running.set()
