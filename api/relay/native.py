"""chatstream's own SSE protocol: every event numbered (``id:``), so a client resumes
with ``Last-Event-ID`` on any edge; a finished answer the log no longer holds is
rebuilt from the store."""

from __future__ import annotations

from typing import Any

import orjson

from api.deps import Principal
from api.errors import ApiError
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
from api.relay.render import Renderer, sse
from api.relay.stream import RequestStream
from api.services import EdgeServices
from stores.conversations.base import StoredMessage

__all__ = ("NativeSse", "from_store", "last_event_id", "open_stream")

_QUEUED = sse(b'{"state":"queued"}', "status")


def _frame(e: Relayed, payload: dict[str, Any]) -> bytes:
    return sse(orjson.dumps(payload), e.kind, e.id)


class NativeSse(Renderer):
    """status, citations, token, tool_calls, restart, then done or error: see the
    README's event table. A client that connects before the first event hears that its
    request is queued."""

    def opening(self, stream: RequestStream, after: int) -> bytes:
        return _QUEUED if after == 0 and not stream.events else b""

    def started(self, e: Started) -> bytes:
        payload: dict[str, Any] = {"state": "generating", "model": e.model,
                                   "provider": e.provider}
        if e.summarized_turns or e.dropped_turns:
            payload["history"] = {"summarized_turns": e.summarized_turns,
                                  "dropped_turns": e.dropped_turns}
        return _frame(e, payload)

    def cited(self, e: Cited) -> bytes:
        return _frame(e, {"citations": e.citations})

    def token(self, e: Token) -> bytes:
        return _frame(e, {"text": e.text, "seq": e.seq})

    def tool_call(self, e: ToolCallPiece) -> bytes:
        return _frame(e, {"index": e.index, "id": e.call_id, "name": e.name,
                          "arguments": e.arguments, "seq": e.seq})

    def restarted(self, e: Restarted) -> bytes:
        return _frame(e, {"attempt": e.attempt})

    def finished(self, e: Finished) -> bytes:
        payload: dict[str, Any] = {"message_id": e.message_id, "usage": {
            "prompt_tokens": e.prompt_tokens, "completion_tokens": e.completion_tokens},
            "finish_reason": e.finish_reason}
        if e.refusal is not None:
            payload["refusal"] = e.refusal
        return _frame(e, payload)

    def failed(self, e: Failed) -> bytes:
        payload: dict[str, Any] = {"code": e.code, "message": e.message}
        # What an HTTP API would have answered, when the pipeline knows it.
        for key, value in (("status", e.status), ("type", e.error_type), ("param", e.param),
                           ("retry_after", e.retry_after)):
            if value is not None:
                payload[key] = value
        return _frame(e, payload)


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
    """A finished answer the log no longer holds, rebuilt from the store. Its events are
    not the original ones (the text comes as one token), so a client that had part of
    it (``after`` > 0) gets ``restart`` first, numbered after what it had: no id repeats
    and the client drops its partial text."""
    s = RequestStream(message.request_id, message.tenant_id, message.user_id,
                      message.conversation_id, base=after)
    if after > 0:
        s.append(Restarted(s.next_id, 0))
    s.append(Started(s.next_id, message.model or "", message.provider or ""))
    if message.citations:
        s.append(Cited(s.next_id, tuple(message.citations)))
    refusal = message.text if message.finish_reason == "blocked" else None
    if refusal is None:
        s.append(Token(s.next_id, message.text, 1))
    for i, call in enumerate(message.tool_calls):
        s.append(ToolCallPiece(s.next_id, i, call.get("id"), call.get("name"),
                               call.get("arguments", ""), 2 + i))
    s.append(Finished(s.next_id, message.id, message.prompt_tokens,
                      message.completion_tokens, message.finish_reason or "stop", refusal))
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
