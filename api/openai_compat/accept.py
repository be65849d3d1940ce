"""A chat-completions request, from either OpenAI route, checked and published as a
conversation of its own; or the OpenAI error that refuses it."""

from __future__ import annotations

import uuid

from fastapi.responses import JSONResponse

from api.deps import Principal
from api.openai_compat.completions_input import BadField, Limits, parse_request, translate
from api.openai_compat.errors import openai_error
from api.relay.stream import RequestStream
from api.services import EdgeServices
from api.submit import submit
from schemas.completions import ChatCompletionRequest
from schemas.events import MessageReceived, new_id

__all__ = ("MAX_IMAGE_BYTES", "accept_chat")

# Image data URLs of one request together: the request is one event on the log, whose
# events stay under Kafka's default limit of 1 MB.
MAX_IMAGE_BYTES = 512 * 1024


async def accept_chat(services: EdgeServices, principal: Principal, raw: object,
                      ) -> tuple[ChatCompletionRequest, MessageReceived, RequestStream] \
        | JSONResponse:
    """The request, the event published for it and the stream its answer fills."""
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
