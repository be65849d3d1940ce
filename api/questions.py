"""A question for the pipeline, built from what a client posted to a conversation: its
text checked, then what answers it, in order of precedence: the message's own model and
options, the conversation's settings (system prompt, model, temperature), the
conversation's assistant, the deployment's default model.

Shared by posting a message and regenerating an answer, so both are checked alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from api.assistants.use import AssistantRefused, Chosen, apply_assistant, for_conversation
from api.deps import Principal
from api.errors import ApiError
from api.openai_compat.completions_input import BadField, native_options
from api.services import EdgeServices
from schemas.assistants import ASSISTANT_MODEL_PREFIX, VariableValue
from schemas.events import MessageReceived, new_id
from stores.conversations.base import Conversation

__all__ = ("Asked", "Question", "question")


@dataclass(frozen=True)
class Asked:
    """What the client posted, besides the conversation."""

    text: str
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    web_search: bool = False
    assistant: str | None = None
    variables: dict[str, VariableValue] = field(default_factory=dict)
    memory: bool = True  # may use the caller's long-term memory (false: a temporary chat)


@dataclass(frozen=True)
class Question:
    event: MessageReceived
    chosen: Chosen | None  # its assistant, pinned to the conversation once accepted

    async def accepted(self, services: EdgeServices) -> None:
        if self.chosen is not None:
            await self.chosen.accepted(services)


def check_text(services: EdgeServices, text: str) -> None:
    if not text.strip():
        raise ApiError(422, "empty_text", "text must not be empty")
    limit = services.settings.max_message_chars
    if len(text) > limit:
        raise ApiError(413, "text_too_long",
                       f"text has {len(text)} characters; the limit is {limit}")


async def question(services: EdgeServices, principal: Principal, conversation: Conversation,
                   asked: Asked, **event: Any) -> Question:
    """The MessageReceived for ``asked`` in ``conversation``; ``event`` sets its other
    fields (message_id, parent_id, regenerate)."""
    settings = services.settings
    check_text(services, asked.text)
    kept = conversation.settings or {}
    if asked.model and asked.model.startswith(ASSISTANT_MODEL_PREFIX):
        # The page's picker (and /v1/models) name assistants as models.
        asked = replace(asked, assistant=asked.model.removeprefix(ASSISTANT_MODEL_PREFIX),
                        model=None)
    try:
        chosen = await for_conversation(services, principal, conversation.id, asked.assistant)
    except AssistantRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, param=exc.param) from None
    # A kept model the catalogue no longer has is forgotten, not refused every time.
    kept_model = kept.get("model") if services.catalogue.get(kept.get("model") or "") else None
    model = asked.model or (None if chosen else kept_model) or settings.default_model
    if chosen is not None:
        model = chosen.version.spec.model or settings.default_model
    spec = services.catalogue.get(model)
    if spec is None:
        raise ApiError(422, "unknown_model",
                       f"model {model!r} is not configured; see GET /v1/models")
    raw = dict(asked.options)
    if "temperature" not in raw and kept.get("temperature") is not None \
            and spec.supports("temperature"):
        raw["temperature"] = kept["temperature"]
    try:
        options = native_options(raw, spec)
    except BadField as exc:
        raise ApiError(422, exc.code, exc.message) from None
    if asked.web_search and not settings.web_search:
        raise ApiError(422, "web_search_unavailable",
                       "web_search: this deployment has no web search (WEB_SEARCH)")
    message = MessageReceived(
        tenant_id=principal.tenant_id, request_id=new_id(),
        message_id=event.pop("message_id", None) or new_id(), conversation_id=conversation.id,
        user_id=principal.user_id, text=asked.text, model=model, options=options,
        web_search=asked.web_search, system=kept.get("system_prompt") or None,
        memory=services.memories is not None and await services.memories.allowed(
            principal.tenant_id, principal.user_id, asked.memory), **event)
    if chosen is not None:
        try:
            applied = await apply_assistant(
                services, principal, chosen.version, model=asked.model, options=options,
                variables=asked.variables, web_search=asked.web_search)
        except AssistantRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message, param=exc.param) from None
        message = message.model_copy(update={
            "model": applied.model, "options": applied.options,
            "web_search": applied.web_search, "assistant": applied.assistant,
            "variables": applied.variables})
    elif asked.variables:
        raise ApiError(400, "unknown_variable", "variables need an assistant")
    return Question(message, chosen)
