"""Turning a request's relayed events into an SSE response, resumable by Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import Principal
from api.errors import ApiError
from api.relay import RequestStream, SseEvent
from api.services import EdgeServices
from kernel.telemetry.metrics import SSE_OPEN
from stores.conversations.base import StoredMessage

__all__ = ("last_event_id", "open_stream", "stream_response")

KEEPALIVE_S = 15.0


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


def _from_store(message: StoredMessage) -> RequestStream:
    """A finished answer the relay no longer holds, rebuilt from the store."""
    s = RequestStream(message.request_id, message.tenant_id, message.user_id,
                      message.conversation_id)
    events: list[tuple[str, dict[str, Any]]] = [
        ("status", {"state": "generating", "model": message.model,
                    "provider": message.provider})]
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
    s.events = [SseEvent(i + 1, name, json.dumps(data)) for i, (name, data) in enumerate(events)]
    s.finished = True
    return s


async def open_stream(services: EdgeServices, principal: Principal, request_id: str,
                      wait_s: float = 5.0) -> RequestStream:
    """The stream of ``request_id`` if the caller (tenant and user) asked it, or 404. A
    request another replica accepted a moment ago may not have reached this one's tail
    yet: wait a little."""
    tenant_id, user_id = principal.tenant_id, principal.user_id
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        s = services.relay.get(request_id)
        if s is not None and s.tenant_id is not None:
            if s.tenant_id != tenant_id or s.user_id != user_id:
                break  # not the caller's: indistinguishable from absent
            return s
        stored = await services.store.get_reply(tenant_id, request_id)
        if stored is not None:
            if stored.user_id != user_id:
                break
            return _from_store(stored)
        if asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(0.05)
    raise ApiError(404, "not_found", f"request {request_id} not found")


async def _events(stream: RequestStream, after: int) -> AsyncIterator[ServerSentEvent]:
    SSE_OPEN.inc()
    try:
        if after == 0 and not stream.events:
            yield ServerSentEvent(event="status", data=json.dumps({"state": "queued"}))
        async for e in stream.follow(after, KEEPALIVE_S):
            if e is None:
                yield ServerSentEvent(comment="keep-alive")
            else:
                yield ServerSentEvent(id=str(e.id), event=e.event, data=e.data)
    finally:
        SSE_OPEN.dec()


def stream_response(stream: RequestStream, after: int) -> EventSourceResponse:
    # Disconnecting only ends this relay: the answer goes on being generated and stored.
    return EventSourceResponse(
        _events(stream, after), ping=int(KEEPALIVE_S),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
