"""Coalesces model deltas into token chunks: flushed at a size or an age, whichever first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from agents.providers.base import Delta

__all__ = ("Chunk", "coalesce")

_END = object()


class Chunk:
    __slots__ = ("final", "text")

    def __init__(self, text: str, final: Delta | None = None) -> None:
        self.text = text
        self.final = final


async def coalesce(deltas: AsyncIterator[Delta], *, max_ms: float,
                   max_chars: int) -> AsyncIterator[Chunk]:
    """Yield text chunks, then one chunk with ``final`` set to the last delta seen with a
    usage or finish reason. A stalled model still has its pending text flushed on time."""
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for d in deltas:
                await queue.put(d)
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(_END)

    task = asyncio.create_task(pump())
    buf: list[str] = []
    size = 0
    started = 0.0
    final: Delta | None = None
    try:
        while True:
            timeout = None
            if buf:
                timeout = max(0.0, max_ms / 1000 - (time.monotonic() - started))
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                yield Chunk("".join(buf))
                buf, size = [], 0
                continue
            if item is _END:
                break
            if isinstance(item, Exception):
                if buf:
                    yield Chunk("".join(buf))
                raise item
            assert isinstance(item, Delta)
            if item.usage is not None or item.finish_reason is not None:
                final = item
            if item.text:
                if not buf:
                    started = time.monotonic()
                buf.append(item.text)
                size += len(item.text)
                if size >= max_chars:
                    yield Chunk("".join(buf))
                    buf, size = [], 0
        if buf:
            yield Chunk("".join(buf))
        yield Chunk("", final or Delta(finish_reason="stop"))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
