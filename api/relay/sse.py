"""Turning a request's relayed events into an SSE response, resumable by Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from api.deps import Principal
from api.errors import ApiError
from api.relay.frames import KEEPALIVE_S, RequestStream, SseEvent, sse_frame
from api.services import EdgeServices
from kernel.telemetry.metrics import SSE_OPEN
from stores.conversations.base import StoredMessage

__all__ = ("last_event_id", "open_stream", "stream_response")

_KEEPALIVE = b": keep-alive\n\n"
_QUEUED = sse_frame(None, "status", '{"state":"queued"}')


def last_event_id(header: str | None, query: str | None) -> int:
    raw = header if header is not None else query
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_last_event_id",
                       "Last-Event-ID must be an event id this API sent") from None
    return max(0, value)


def from_store(message: StoredMessage, after: int) -> RequestStream:
    """A finished answer the log no longer holds, rebuilt from the store. Its frames are
    not the original ones (the text comes as one token), so a client that had part of
    it (``after`` > 0) gets ``restart`` first, numbered after what it had: no id repeats
    and the client drops its partial text."""
    s = RequestStream(message.request_id, message.tenant_id, message.user_id,
                      message.conversation_id)
    events: list[tuple[str, dict[str, Any]]] = []
    if after > 0:
        events.append(("restart", {"attempt": 0}))
    events.append(("status", {"state": "generating", "model": message.model,
                              "provider": message.provider}))
    if message.citations:
        events.append(("citations", {"citations": list(message.citations)}))
    events.append(("token", {"text": message.text, "seq": 1}))
    events += [("tool_calls", {"index": i, "id": c.get("id"), "name": c.get("name"),
                               "arguments": c.get("arguments", ""), "seq": 2 + i})
               for i, c in enumerate(message.tool_calls)]
    events.append(("done", {"message_id": message.id, "usage": {
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens},
        "finish_reason": message.finish_reason}))
    s.events = [SseEvent.of(after + i + 1, name, data) for i, (name, data) in enumerate(events)]
    s.finished = True
    return s


async def open_stream(services: EdgeServices, principal: Principal, request_id: str,
                      after: int = 0) -> RequestStream:
    """The stream of ``request_id`` if the caller (tenant and user) asked it, or 404:
    held by this edge's relay, read from the log on demand, or rebuilt from the store."""
    tenant_id, user_id = principal.tenant_id, principal.user_id
    s = await services.relay.find(request_id)
    if s is not None:
        if s.tenant_id == tenant_id and s.user_id == user_id:
            return s
    else:
        stored = await services.store.get_reply(tenant_id, request_id)
        if stored is not None and stored.user_id == user_id:
            return from_store(stored, after)
    # Not the caller's is indistinguishable from absent.
    raise ApiError(404, "not_found", f"request {request_id} not found")


async def _frames(stream: RequestStream, after: int) -> AsyncIterator[bytes]:
    SSE_OPEN.inc()
    try:
        if after == 0 and not stream.events:
            yield _QUEUED
        async for batch in stream.follow_batches(after, KEEPALIVE_S):
            yield _KEEPALIVE if batch is None else b"".join(e.wire for e in batch)
    finally:
        SSE_OPEN.dec()


def stream_response(stream: RequestStream, after: int) -> StreamingResponse:
    # Disconnecting only ends this relay: the answer goes on being generated and stored.
    return StreamingResponse(
        _frames(stream, after), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

