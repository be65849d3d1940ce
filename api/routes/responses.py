"""``POST /v1/responses``: OpenAI's Responses API, streamed and not, text and tool calls,
served through the same path as chat completions (see :mod:`api.openai_compat.responses`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import PrincipalDep, ServicesDep
from api.openai_compat.completions import openai_error, status_of
from api.openai_compat.completions_input import BadField
from api.openai_compat.responses import ResponseWriter, to_chat
from api.routes.completions import start
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
    started = await start(services, principal, chat)
    if isinstance(started, JSONResponse):
        return started
    body, event, stream = started
    writer = ResponseWriter(id=f"resp_{event.request_id.replace('-', '')}", model=event.model,
                            request=raw)
    headers = {"X-Request-Id": event.request_id, "X-Conversation-Id": event.conversation_id}
    if body.stream:
        return StreamingResponse(
            writer.events(stream), media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    async for _ in writer.events(stream):
        pass
    if writer.error is not None:
        code = writer.error["code"]
        return openai_error(status_of(code), writer.error["message"], type="server_error",
                            code=code, headers=headers)
    if writer.status != "completed":
        return openai_error(502, "the answer ended without finishing", type="server_error",
                            headers=headers)
    return JSONResponse(writer.response(), headers=headers)
