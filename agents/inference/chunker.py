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

    def deadline(self, max_ms: float) -> float | None:
        """Seconds until what is pending must go out; None: nothing is pending."""
        if not self:
            return None
        return max(0.0, max_ms / 1000 - (time.monotonic() - self.started))

    def add(self, delta: Delta) -> Iterator[Chunk]:
        """Add a delta's text or tool call piece, yielding what it pushes out first."""
        if delta.tool_call is not None:
            yield from self._add_call(delta.tool_call)
            return
        if self.call is not None:
            yield from self.flush()  # text after a tool call ends the call
        if not self.text:
            self.started = time.monotonic()
        self.text.append(delta.text)
        self.size += len(delta.text)

    def _add_call(self, piece: ToolCallDelta) -> Iterator[Chunk]:
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


class _Feed:
    """The deltas, read by a task of their own into a queue together with the cancel,
    so the reader can wait for the next one with a deadline."""

    def __init__(self, deltas: AsyncIterator[Delta | object],
                 cancelled: asyncio.Event | None) -> None:
        self._deltas = deltas
        self._cancelled = cancelled
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> _Feed:
        self._tasks.append(asyncio.create_task(self._pump()))
        if self._cancelled is not None:
            self._tasks.append(asyncio.create_task(self._watch(self._cancelled)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _pump(self) -> None:
        try:
            async for d in self._deltas:
                await self._queue.put(d)
        except Exception as exc:
            await self._queue.put(exc)
        else:
            await self._queue.put(_END)

    async def _watch(self, event: asyncio.Event) -> None:
        await event.wait()
        await self._queue.put(_CANCEL)

    async def get(self, wait_s: float | None) -> object:
        """The next item; TimeoutError after ``wait_s`` seconds (None: no limit)."""
        if not self._queue.empty():
            return self._queue.get_nowait()  # what is queued already is taken at once
        # asyncio.timeout, not wait_for (which wraps the get in a Task per chunk).
        async with asyncio.timeout(wait_s):
            return await self._queue.get()


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
    pending = _Pending()
    final: Delta | None = None
    sent_any = False
    async with _Feed(deltas, cancelled) as feed:
        while True:
            try:
                item = await feed.get(pending.deadline(max_ms))
            except TimeoutError:
                for c in pending.flush():
                    yield c
                sent_any = True
                continue
            if item is _END:
                break
            if not isinstance(item, Delta):  # a cancel, a failure or a marker
                for c in pending.flush():
                    yield c
                if item is _CANCEL:
                    yield Chunk("", Delta(finish_reason=CANCELLED))
                    return
                if isinstance(item, Exception):
                    raise item
                final = None
                yield Chunk("", marker=item)
                continue
            if item.usage is not None or item.finish_reason is not None:
                final = item
            if not item.text and item.tool_call is None:
                continue
            for c in pending.add(item):
                yield c
            # The first piece goes out at once: time to first token is what a user
            # feels; coalescing only pays off once the stream is flowing.
            if pending.size >= max_chars or not sent_any:
                for c in pending.flush():
                    yield c
                sent_any = True
    for c in pending.flush():
        yield c
    yield Chunk("", final or Delta(finish_reason="stop"))
