"""``POST /v1/chat/completions``: OpenAI's API served through the pipeline, so the
official ``openai`` client works unchanged. Errors are in OpenAI's shape."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from api.completions import Completion, collect, openai_error, stream_chunks
from api.deps import PrincipalDep, ServicesDep
from api.limits import count
from schemas.completions import ChatCompletion, ChatCompletionRequest, OpenAIError
from schemas.events import HistoryTurn, MessageReceived, conversation_key, new_id
from schemas.topics import REQUESTS

__all__ = ("router",)

router = APIRouter(prefix="/v1/chat", tags=["openai"])

_ROLES: dict[str, Literal["system", "user", "assistant"]] = {
    "system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@router.post("/completions", response_model=ChatCompletion,
             responses={200: {"content": {"text/event-stream": {}}},
                        400: {"model": OpenAIError}, 404: {"model": OpenAIError}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object", "description": (
                     "OpenAI's chat completion request: model, messages, stream, "
                     "stream_options, temperature, max_tokens")}}}}})
async def chat_completions(request: Request, services: ServicesDep,
                           principal: PrincipalDep) -> JSONResponse | StreamingResponse:
    """The request's ``messages`` are the conversation: the last one (from the user) is
    answered with the earlier ones as its history. Each call opens a conversation of
    its own, stored like any other; ``X-Request-Id`` names the request, so
    ``POST /v1/requests/{id}/cancel`` can stop it."""
    # The body is parsed here rather than by FastAPI, so bad input gets OpenAI's error
    # shape instead of chatstream's.
    try:
        raw = await request.json()
    except ValueError:
        return openai_error(400, "the body is not valid JSON", code="invalid_json")
    try:
        body = ChatCompletionRequest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err.get("loc", ())) or None
        return openai_error(400, f"{param}: {err['msg']}" if param else err["msg"],
                            param=param, code="invalid_value")
    settings = services.settings
    spec = services.catalogue.get(body.model)
    if spec is None:
        return openai_error(404, f"The model `{body.model}` does not exist; see GET "
                            "/v1/models", param="model", code="model_not_found")
    if body.n != 1:
        return openai_error(400, "only n=1 is supported", param="n", code="invalid_value")
    turns: list[HistoryTurn] = []
    for i, m in enumerate(body.messages):
        role = _ROLES.get(m.role)
        if role is None:
            return openai_error(400, f"messages.{i}: {m.role} messages are not supported",
                                param=f"messages.{i}.role", code="invalid_value")
        turns.append(HistoryTurn(role=role, text=m.text()))
    last = turns[-1]
    if last.role != "user" or not last.text.strip():
        return openai_error(400, "the last message must be a user message with text",
                            param="messages", code="invalid_value")
    if len(last.text) > settings.max_message_chars:
        return openai_error(400, f"the last message has {len(last.text)} characters; the "
                            f"limit is {settings.max_message_chars}", param="messages",
                            code="string_above_max_length")
    options: dict[str, Any] = {}
    if body.max_completion_tokens or body.max_tokens:
        options["max_tokens"] = body.max_completion_tokens or body.max_tokens
    if body.temperature is not None:
        options["temperature"] = body.temperature
    await count(services, principal, messages=1)
    cid = str(uuid.uuid4())
    event = MessageReceived(
        tenant_id=principal.tenant_id, request_id=new_id(), message_id=new_id(),
        conversation_id=cid, user_id=principal.user_id, text=last.text, model=spec.name,
        options=options, history=tuple(turns[:-1]), reply_partition=services.relay.home,
    )
    with services.relay.accepting(event) as stream:
        await services.runtime.publisher.publish(
            REQUESTS, conversation_key(principal.tenant_id, cid), event)
    completion = Completion(id=f"chatcmpl-{event.request_id}", model=spec.name)
    headers = {"X-Request-Id": event.request_id, "X-Conversation-Id": cid}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        # A client that disconnects only stops this relay; the answer is still generated
        # and stored. Cancelling is an explicit request.
        return StreamingResponse(
            stream_chunks(stream, completion, include_usage), media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response = await collect(stream, completion)
    response.headers.update(headers)
    return response
