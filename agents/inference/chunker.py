"""Coalesces model deltas into token chunks: flushed at a size or an age, whichever first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from agents.providers.base import Delta, ToolCallDelta

__all__ = ("CANCELLED", "Chunk", "coalesce")

_END = object()
_CANCEL = object()
CANCELLED = "cancelled"
"""The finish reason of an answer stopped by a cancel."""


class Chunk:
    __slots__ = ("final", "marker", "text", "tool_call")

    def __init__(self, text: str, final: Delta | None = None,
                 marker: object | None = None, tool_call: ToolCallDelta | None = None) -> None:
        self.text = text
        self.final = final
        self.marker = marker
        self.tool_call = tool_call


class _Pending:
    """What is waiting to go out: text, or the arguments of one tool call (a tool call's
    pieces are coalesced like text, a new call or text flushes the previous one)."""

    __slots__ = ("call", "size", "started", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.call: ToolCallDelta | None = None
        self.size = 0
        self.started = 0.0

    def __bool__(self) -> bool:
        return bool(self.text) or self.call is not None

    def flush(self) -> Iterator[Chunk]:
        if self.text:
            yield Chunk("".join(self.text))
        if self.call is not None:
            yield Chunk("", tool_call=self.call)
        self.text, self.call, self.size = [], None, 0

    def add_text(self, text: str) -> None:
        """Text after a pending tool call: flush the call first (see ``coalesce``)."""
        if not self.text:
            self.started = time.monotonic()
        self.text.append(text)
        self.size += len(text)

    def add_call(self, piece: ToolCallDelta) -> Iterator[Chunk]:
        call = self.call
        if call is not None and piece.index == call.index and piece.id is None \
                and piece.name is None:
            self.call = replace(call, arguments=call.arguments + piece.arguments)
            self.size += len(piece.arguments)
            return
        yield from self.flush()
        self.started = time.monotonic()
        self.call = piece
        self.size = len(piece.arguments)


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
    pending = _Pending()
    final: Delta | None = None
    sent_any = False
    try:
        while True:
            timeout = None
            if pending:
                timeout = max(0.0, max_ms / 1000 - (time.monotonic() - pending.started))
            try:
                # What is queued already is taken without waiting; a wait is bounded by
                # asyncio.timeout, not wait_for (which wraps the get in a Task per chunk).
                if queue.empty():
                    async with asyncio.timeout(timeout):
                        item = await queue.get()
                else:
                    item = queue.get_nowait()
            except TimeoutError:
                for c in pending.flush():
                    yield c
                sent_any = True
                continue
            if item is _END:
                break
            if item is _CANCEL:
                for c in pending.flush():
                    yield c
                yield Chunk("", Delta(finish_reason=CANCELLED))
                return
            if isinstance(item, Exception):
                for c in pending.flush():
                    yield c
                raise item
            if not isinstance(item, Delta):
                for c in pending.flush():
                    yield c
                final = None
                yield Chunk("", marker=item)
                continue
            if item.usage is not None or item.finish_reason is not None:
                final = item
            if not item.text and item.tool_call is None:
                continue
            if item.tool_call is not None:
                for c in pending.add_call(item.tool_call):
                    yield c
            else:
                if pending.call is not None:
                    for c in pending.flush():
                        yield c
                pending.add_text(item.text)
            # The first piece goes out at once: time to first token is what a user
            # feels; coalescing only pays off once the stream is flowing.
            if pending.size >= max_chars or not sent_any:
                for c in pending.flush():
                    yield c
                sent_any = True
        for c in pending.flush():
            yield c
        yield Chunk("", final or Delta(finish_reason="stop"))
    finally:
        for t in (task, watcher):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
