"""``POST /v1/chat/completions``: OpenAI's API served through the pipeline, so the
official ``openai`` client works unchanged. Errors are in OpenAI's shape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import PrincipalDep, ServicesDep
from api.disconnect import (
    ClientGone,
    canceller,
    gone_response,
    unless_disconnected,
    until_disconnected,
)
from api.openai_compat.accept import accept_chat
from api.openai_compat.completions import ChatChunks, Completion, collect
from api.openai_compat.errors import answer_error, openai_error
from api.openai_compat.opening import first_event, history_headers
from api.relay.events import Failed
from api.relay.render import frames
from api.relay.response import sse_response
from schemas.completions import ChatCompletion, ChatCompletionRequest, OpenAIError

__all__ = ("router",)

router = APIRouter(prefix="/v1/chat", tags=["openai"])

# The body is read by the route itself (see below), so its schema is given here: OpenAI's
# request as chatstream reads it; docs/models.md says what is done with each field.
_REQUEST_SCHEMA = {
    **ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}"),
    "description": "OpenAI's chat completion request; docs/models.md lists every field "
                   "and what chatstream does with it; a field it does not know is refused (400)."}


@router.post("/completions", response_model=ChatCompletion,
             responses={200: {"content": {"text/event-stream": {}}},
                        400: {"model": OpenAIError}, 404: {"model": OpenAIError},
                        413: {"model": OpenAIError}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _REQUEST_SCHEMA}}}})
async def chat_completions(request: Request, services: ServicesDep,
                           principal: PrincipalDep) -> JSONResponse | StreamingResponse:
    """The request's ``messages`` are the conversation: the last one (from the user) is
    answered with the earlier ones as its history. Each call opens a conversation of
    its own, stored like any other; ``X-Request-Id`` names the request, so
    ``POST /v1/requests/{id}/cancel`` can stop it. A client that disconnects cancels
    the answer, unless it sent ``X-Chatstream-On-Disconnect: continue``."""
    # The body is parsed here rather than by FastAPI, so bad input gets OpenAI's error
    # shape instead of chatstream's.
    try:
        raw = await request.json()
    except ValueError:
        return openai_error(400, "the body is not valid JSON", code="invalid_json")
    started = await accept_chat(services, principal, raw, request.scope)
    if isinstance(started, JSONResponse):
        return started
    body, event, stream = started
    completion = Completion(id=f"chatcmpl-{event.request_id}", model=event.model)
    headers = {"X-Request-Id": event.request_id, "X-Conversation-Id": event.conversation_id}
    leave = canceller(request, services, principal, stream)
    try:
        first = await until_disconnected(request, first_event(stream), leave)
        if isinstance(first, Failed):
            return answer_error(first, headers)
        headers.update(history_headers(first))
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            chunks = frames(stream, ChatChunks(completion, include_usage))
            return sse_response(unless_disconnected(chunks, leave), headers)
        response = await until_disconnected(request, collect(stream, completion), leave)
    except ClientGone:
        return gone_response()
    response.headers.update(headers)
    return response
