"""``POST /v1/responses``: OpenAI's Responses API, streamed and not, text and tool calls,
served through the same path as chat completions (see :mod:`api.openai_compat.responses`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import PrincipalDep, ServicesDep
from api.disconnect import (
    ON_DISCONNECT,
    ClientGone,
    canceller,
    gone_response,
    unless_disconnected,
    until_disconnected,
)
from api.openai_compat.accept import accept_chat
from api.openai_compat.completions_input import BadField
from api.openai_compat.errors import answer_error, openai_error
from api.openai_compat.opening import first_event, history_headers
from api.openai_compat.responses import ResponseEvents
from api.openai_compat.responses_input import CHAT_NAMES, to_chat
from api.relay.events import Failed
from api.relay.render import drain, frames
from api.relay.response import sse_response
from schemas.completions import OpenAIError

__all__ = ("router",)

router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/responses", response_model=None,
             responses={200: {"content": {"text/event-stream": {}}},
                        400: {"model": OpenAIError}, 404: {"model": OpenAIError},
                        413: {"model": OpenAIError}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object", "description": (
                     "OpenAI's Responses request; docs/models.md says what chatstream "
                     "does with each field")}}}}})
async def create_response(request: Request, services: ServicesDep,
                          principal: PrincipalDep) -> JSONResponse | StreamingResponse:
    """``input`` is the whole conversation (text, or message, function_call and
    function_call_output items): responses are not kept between requests, each is
    stored as a conversation of its own like a chat completion."""
    try:
        raw = await request.json()
    except ValueError:
        return openai_error(400, "the body is not valid JSON", code="invalid_json")
    try:
        chat = to_chat(raw)
    except BadField as exc:
        return openai_error(exc.status, exc.message, param=exc.param, code=exc.code)
    started = await accept_chat(services, principal, chat, request.scope, CHAT_NAMES)
    if isinstance(started, JSONResponse):
        return started
    body, event, stream = started
    response = ResponseEvents(f"resp_{event.request_id.replace('-', '')}", event.model, raw,
                              streamed=bool(body.stream))
    headers = {"X-Request-Id": event.request_id, "X-Conversation-Id": event.conversation_id}
    leave = canceller(request.headers.get(ON_DISCONNECT), services, principal, stream)
    try:
        first = await until_disconnected(request.receive, first_event(stream), leave)
        if isinstance(first, Failed):
            return answer_error(first, headers)
        headers.update(history_headers(first))
        if body.stream:
            return sse_response(unless_disconnected(frames(stream, response), leave),
                                headers)
        await until_disconnected(request.receive, drain(stream, response), leave)
    except ClientGone:
        return gone_response()
    if response.error is not None or response.status == "in_progress":
        return answer_error(response.error, headers)
    return JSONResponse(response.response(), headers=headers)
