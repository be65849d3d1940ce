"""Coalesces model deltas into token chunks: flushed at a size or an age, whichever first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from agents.providers.base import Delta

__all__ = ("CANCELLED", "Chunk", "coalesce")

_END = object()
_CANCEL = object()
CANCELLED = "cancelled"
"""The finish reason of an answer stopped by a cancel."""


class Chunk:
    __slots__ = ("final", "marker", "text")

    def __init__(self, text: str, final: Delta | None = None,
                 marker: object | None = None) -> None:
        self.text = text
        self.final = final
        self.marker = marker


async def coalesce(deltas: AsyncIterator[Delta | object], *, max_ms: float, max_chars: int,
                   cancelled: asyncio.Event | None = None) -> AsyncIterator[Chunk]:
    """Yield text chunks, then one chunk with ``final`` set to the last delta seen with a
    usage or finish reason. A stalled model still has its pending text flushed on time.

    Items that are not deltas are markers: pending text is flushed, then the marker is
    passed on in a chunk of its own, in order. When ``cancelled`` is set the pending text
    is flushed, the final chunk has finish reason ``cancelled``, and the source stops
    (closing the upstream request)."""
    if cancelled is not None and cancelled.is_set():
        # Cancelled before it began: the source is never started, so never contacted.
        yield Chunk("", Delta(finish_reason=CANCELLED))
        return
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for d in deltas:
                await queue.put(d)
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(_END)

    async def watch(event: asyncio.Event) -> None:
        await event.wait()
        await queue.put(_CANCEL)

    task = asyncio.create_task(pump())
    watcher = asyncio.create_task(watch(cancelled)) if cancelled is not None else None
    buf: list[str] = []
    size = 0
    started = 0.0
    final: Delta | None = None
    sent_any = False
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
                sent_any = True
                continue
            if item is _END:
                break
            if item is _CANCEL:
                if buf:
                    yield Chunk("".join(buf))
                yield Chunk("", Delta(finish_reason=CANCELLED))
                return
            if isinstance(item, Exception):
                if buf:
                    yield Chunk("".join(buf))
                raise item
            if not isinstance(item, Delta):
                if buf:
                    yield Chunk("".join(buf))
                    buf, size = [], 0
                final = None
                yield Chunk("", marker=item)
                continue
            if item.usage is not None or item.finish_reason is not None:
                final = item
            if item.text:
                if not buf:
                    started = time.monotonic()
                buf.append(item.text)
                size += len(item.text)
                # The first text goes out at once: time to first token is what a user
                # feels; coalescing only pays off once the stream is flowing.
                if size >= max_chars or not sent_any:
                    yield Chunk("".join(buf))
                    buf, size = [], 0
                    sent_any = True
        if buf:
            yield Chunk("".join(buf))
        yield Chunk("", final or Delta(finish_reason="stop"))
    finally:
        for t in (task, watcher):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
