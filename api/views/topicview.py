"""Following a topic at the edge: start from a point, apply each record, evict, stop.

The token relay, the analytics view and the batch view all keep in-memory state built
from a topic; this is the one loop they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from schemas.topics import TopicSpec
from streams.runtime.base import Record, Runtime

__all__ = ("TopicView",)

log = logging.getLogger(__name__)


class TopicView:
    """Hands every record of ``topic`` (``partitions`` of it, or all) from ``since_ms`` on
    to ``apply``, in a task of its own. ``evict`` runs every ``evict_every_s`` while the
    view runs, so state built from the topic stays within its bounds when it is quiet.
    A view nobody waits on record by record is not ``interactive`` (see Runtime.tail)."""

    def __init__(self, runtime: Runtime, topic: TopicSpec, apply: Callable[[Record], None],
                 *, since_ms: int = 0, partitions: Sequence[int] | None = None,
                 evict: Callable[[], None] | None = None, evict_every_s: float = 5.0,
                 name: str | None = None, interactive: bool = True) -> None:
        self._runtime = runtime
        self.topic = topic
        self._apply = apply
        self._since_ms = since_ms
        self._partitions = partitions
        self._evict = evict
        self._evict_every_s = evict_every_s
        self.name = name or f"view-{topic.name}"
        self._interactive = interactive
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start following; returns once the start offsets are fixed, so a record written
        afterwards cannot slip past the view."""
        positioned = asyncio.Event()
        follow = asyncio.create_task(self._follow(positioned.set), name=self.name)
        self._tasks = [follow]
        if self._evict is not None:
            self._tasks.append(asyncio.create_task(self._sweep(), name=f"{self.name}-evict"))
        waiter = asyncio.create_task(positioned.wait())
        try:
            done, _ = await asyncio.wait({waiter, follow}, timeout=timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if follow in done:
            follow.result()  # a view that died says why
            raise RuntimeError(f"{self.name} ended before it was positioned")
        if not positioned.is_set():
            await self.stop()
            raise TimeoutError(f"{self.name} could not reach the log in {timeout_s}s")

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    async def _follow(self, positioned: Callable[[], None]) -> None:
        async for record in self._runtime.tail(self.topic, self._since_ms, positioned,
                                               self._partitions,
                                               interactive=self._interactive):
            try:
                self._apply(record)
            except Exception:
                log.exception("%s: record %s@%d:%d not applied", self.name, record.topic,
                              record.partition, record.offset)

    async def _sweep(self) -> None:
        assert self._evict is not None
        while True:
            await asyncio.sleep(self._evict_every_s)
            self._evict()
