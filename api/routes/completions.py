"""``POST /v1/chat/completions``: OpenAI's API served through the pipeline, so the
official ``openai`` client works unchanged. Errors are in OpenAI's shape."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import Principal, PrincipalDep, ServicesDep
from api.openai_compat.completions import Completion, collect, openai_error, stream_chunks
from api.openai_compat.completions_input import BadField, Limits, parse_request, translate
from api.relay.tokens import RequestStream
from api.services import EdgeServices
from api.submit import submit
from schemas.completions import ChatCompletion, ChatCompletionRequest, OpenAIError
from schemas.events import MessageReceived, new_id

__all__ = ("router", "start")

router = APIRouter(prefix="/v1/chat", tags=["openai"])

# Image data URLs of one request together: the request is one event on the log, whose
# events stay under Kafka's default limit of 1 MB.
MAX_IMAGE_BYTES = 512 * 1024


async def start(services: EdgeServices, principal: Principal, raw: object,
                ) -> tuple[ChatCompletionRequest, MessageReceived, RequestStream] | JSONResponse:
    """A chat-completions request checked, published as a conversation of its own, and
    the stream its answer fills; or the OpenAI error that refuses it."""
    settings = services.settings
    try:
        body = parse_request(raw)
        spec = services.catalogue.get(body.model)
        if spec is None:
            return openai_error(404, f"The model `{body.model}` does not exist; see GET "
                                "/v1/models", param="model", code="model_not_found")
        asked = translate(body, spec, Limits(
            max_message_chars=settings.max_message_chars,
            max_image_bytes=MAX_IMAGE_BYTES))
    except BadField as exc:
        return openai_error(exc.status, exc.message, param=exc.param, code=exc.code)
    event = MessageReceived(
        tenant_id=principal.tenant_id, request_id=new_id(), message_id=new_id(),
        conversation_id=str(uuid.uuid4()), user_id=principal.user_id, text=asked.text,
        model=spec.name, options=asked.options.model_dump(exclude_none=True),
        history=asked.history, tool_rounds=asked.tool_rounds, images=asked.images,
    )
    return body, event, await submit(services, principal, event)


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
    ``POST /v1/requests/{id}/cancel`` can stop it."""
    # The body is parsed here rather than by FastAPI, so bad input gets OpenAI's error
    # shape instead of chatstream's.
    try:
        raw = await request.json()
    except ValueError:
        return openai_error(400, "the body is not valid JSON", code="invalid_json")
    started = await start(services, principal, raw)
    if isinstance(started, JSONResponse):
        return started
    body, event, stream = started
    cid = event.conversation_id
    completion = Completion(id=f"chatcmpl-{event.request_id}", model=event.model)
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
