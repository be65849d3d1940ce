"""Rendering an answer's relayed events in one protocol: the one walk over them.

A :class:`Renderer` says what one protocol sends for each kind of event (chatstream's own
SSE events, OpenAI's chat.completions chunks, OpenAI's Responses events); :func:`frames`
walks a stream's events through it and yields the bytes to send, the events that arrived
together as one write. Nothing here knows a web framework: the bytes go to an ASGI
``send`` as they are (:func:`api.relay.response.sse_response` wraps them for a route).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from api.relay.events import (
    Cited,
    Failed,
    Finished,
    Relayed,
    Restarted,
    Started,
    Token,
    ToolCallPiece,
)
from api.relay.stream import KEEPALIVE_S, RequestStream
from kernel.telemetry.metrics import SSE_OPEN

__all__ = ("KEEPALIVE", "SSE_HEADERS", "Renderer", "drain", "frames", "sse")

KEEPALIVE = b": keep-alive\n\n"
"""An SSE comment: sent when a stream is quiet, so proxies keep the connection open."""

SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # nginx buffers responses unless told not to: a stream would arrive all at once.
    (b"x-accel-buffering", b"no"),
)
"""The headers of every SSE response, as ASGI takes them."""


def sse(data: bytes, event: str | None = None, id_: int | None = None) -> bytes:
    """One SSE event: ``data`` is one line (JSON is)."""
    head = b"" if id_ is None else b"id: %d\n" % id_
    if event is not None:
        head += b"event: %s\n" % event.encode()
    return b"%sdata: %s\n\n" % (head, data)


class Renderer:
    """What one protocol sends for each kind of event: each method returns the bytes for
    one event (nothing by default). A renderer sets ``ended`` to end the stream before
    the answer ends (a protocol that cannot take text back ends at a restart)."""

    ended: bool = False

    def opening(self, stream: RequestStream, after: int) -> bytes:
        """What is sent before the first event."""
        return b""

    def started(self, e: Started) -> bytes:
        return b""

    def cited(self, e: Cited) -> bytes:
        return b""

    def token(self, e: Token) -> bytes:
        return b""

    def tool_call(self, e: ToolCallPiece) -> bytes:
        return b""

    def restarted(self, e: Restarted) -> bytes:
        return b""

    def finished(self, e: Finished) -> bytes:
        return b""

    def failed(self, e: Failed) -> bytes:
        return b""

    def render(self, events: Iterable[Relayed]) -> bytes:
        """The bytes of ``events``, up to where the renderer ends."""
        out: list[bytes] = []
        for e in events:
            if isinstance(e, Token):  # nearly every event: tested first
                out.append(self.token(e))
            elif isinstance(e, ToolCallPiece):
                out.append(self.tool_call(e))
            elif isinstance(e, Started):
                out.append(self.started(e))
            elif isinstance(e, Cited):
                out.append(self.cited(e))
            elif isinstance(e, Restarted):
                out.append(self.restarted(e))
            elif isinstance(e, Finished):
                out.append(self.finished(e))
            else:
                out.append(self.failed(e))
            if self.ended:
                break
        return b"".join(out)


async def frames(stream: RequestStream, renderer: Renderer, after: int = 0,
                 keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[bytes]:
    """What ``renderer`` sends for ``stream``'s events after id ``after``, until the
    answer (or the renderer) ends; a keep-alive comment when it is quiet for
    ``keepalive_s``. Disconnecting only ends this walk: the answer goes on being
    generated and stored."""
    SSE_OPEN.inc()
    try:
        head = renderer.opening(stream, after)
        if head:
            yield head
        async for batch in stream.follow(after, keepalive_s):
            if batch is None:
                yield KEEPALIVE
                continue
            out = renderer.render(batch)
            if out:
                yield out
            if renderer.ended:
                return
    finally:
        SSE_OPEN.dec()


async def drain(stream: RequestStream, renderer: Renderer) -> None:
    """Every event of ``stream`` through ``renderer``, for an answer sent whole once it
    has ended (the renderer keeps what it needs of them)."""
    async for batch in stream.follow(0, KEEPALIVE_S):
        if batch is not None:
            renderer.render(batch)
            if renderer.ended:
                return
