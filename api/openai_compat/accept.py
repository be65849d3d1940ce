"""A chat-completions request, from either OpenAI route, checked and published as a
conversation of its own; or the OpenAI error that refuses it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from fastapi.responses import JSONResponse
from starlette.types import Scope

from api.assistants.use import AssistantRefused, apply_assistant, find_version
from api.deps import Principal
from api.guards.slots import hold
from api.openai_compat.completions_input import BadField, Limits, parse_request, translate
from api.openai_compat.errors import openai_error
from api.relay.stream import RequestStream
from api.services import EdgeServices
from api.submit import submit
from schemas.assistants import ASSISTANT_MODEL_PREFIX, VariableValue
from schemas.completions import ChatCompletionRequest
from schemas.events import MessageReceived, new_id

__all__ = ("MAX_IMAGE_BYTES", "accept_chat")

# Image data URLs of one request together: the request is one event on the log, whose
# events stay under Kafka's default limit of 1 MB.
MAX_IMAGE_BYTES = 512 * 1024


async def accept_chat(services: EdgeServices, principal: Principal, raw: object,
                      scope: Scope, names: Mapping[str, str] | None = None,
                      ) -> tuple[ChatCompletionRequest, MessageReceived, RequestStream] \
        | JSONResponse:
    """The request, the event published for it and the stream its answer fills. A model
    ``assistant:NAME[@N]`` is that assistant (its model, options, tools and instructions),
    its template's values in ``variables`` (chatstream's extension, ``extra_body``);
    ``names``: the client's names of chat fields, for its errors (Responses). A
    streamed request takes the user's stream slot (in ``scope``, the request's) before
    anything is published or counted."""
    settings = services.settings
    try:
        raw, variables, memory = split_extensions(raw)
        body = parse_request(raw)
        version = None
        model = body.model
        if model.startswith(ASSISTANT_MODEL_PREFIX):
            version = await find_version(services, principal.tenant_id,
                                         model.removeprefix(ASSISTANT_MODEL_PREFIX))
            model = version.spec.model or settings.default_model
        elif variables is not None:
            raise BadField("variables", "`variables` need an assistant model "
                           "(assistant:NAME)", code="unknown_parameter")
        spec = services.catalogue.get(model)
        if spec is None:
            return openai_error(404, f"The model `{model}` does not exist; see GET "
                                "/v1/models", param="model", code="model_not_found")
        asked = translate(body, spec, Limits(max_image_bytes=MAX_IMAGE_BYTES))
        event = MessageReceived(
            tenant_id=principal.tenant_id, request_id=new_id(), message_id=new_id(),
            conversation_id=str(uuid.uuid4()), user_id=principal.user_id, text=asked.text,
            model=spec.name, options=asked.options.model_dump(exclude_none=True),
            history=asked.history, tool_rounds=asked.tool_rounds, images=asked.images,
            name=asked.name, opens_conversation=True,
            memory=services.memories is not None and await services.memories.allowed(
                principal.tenant_id, principal.user_id, memory),
        )
        if version is not None:
            applied = await apply_assistant(services, principal, version, model=None,
                                            options=event.options,
                                            variables=variables or {}, web_search=False)
            event = event.model_copy(update={
                "options": applied.options, "web_search": applied.web_search,
                "assistant": applied.assistant, "variables": applied.variables})
    except BadField as exc:
        message, param = exc.message, exc.param
        for chat_name, theirs in (names or {}).items():
            message = message.replace(chat_name, theirs)
            if param is not None and param.split(".")[0] == chat_name:
                param = theirs + param[len(chat_name):]
        return openai_error(exc.status, message, param=param, code=exc.code)
    except AssistantRefused as exc:
        return openai_error(404 if exc.status == 404 else 400, exc.message,
                            param=exc.param, code=exc.code)
    if body.stream:
        hold(scope, principal.tenant_id, principal.user_id)
    return body, event, await submit(services, principal, event)


def split_extensions(raw: object
                     ) -> tuple[object, dict[str, VariableValue] | None, bool]:
    """The body without chatstream's extensions (sent with ``extra_body``): an assistant's
    template values (``variables``), and ``memory: true`` to use the caller's long-term
    memory (off unless asked: an API call's answer depends only on what it sends)."""
    if not isinstance(raw, dict):
        return raw, None, False
    rest = {k: v for k, v in raw.items() if k not in ("variables", "memory")}
    memory = raw.get("memory", False)
    if not isinstance(memory, bool):
        raise BadField("memory", "`memory` is true or false")
    if "variables" not in raw:
        return rest, None, memory
    given = raw["variables"]
    if not isinstance(given, dict) or len(given) > 32 or not all(
            isinstance(k, str) and isinstance(v, str | int | float | bool)
            for k, v in given.items()):
        raise BadField("variables", "`variables` is an object of at most 32 strings, "
                       "numbers or booleans")
    return rest, given, memory
