"""The conversation store interface. Every call is scoped by tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ("DEFAULT_TITLE", "Conversation", "ConversationStore", "Found", "SearchOutcome",
           "StoredMessage", "StoredSummary")

DEFAULT_TITLE = "New conversation"


@dataclass(frozen=True, slots=True)
class Conversation:
    tenant_id: str
    id: str
    user_id: str
    title: str
    created_at: datetime
    # System prompt, model and temperature (schemas.http.ConversationSettings), as JSON
    # values; None: none set. Lists leave them out.
    settings: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    tenant_id: str
    conversation_id: str
    id: str
    request_id: str
    role: Literal["user", "assistant"]
    text: str
    created_at: datetime
    user_id: str
    model: str | None = None
    provider: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    citations: tuple[dict[str, Any], ...] = ()
    scores: dict[str, Any] | None = field(default=None)
    tool_calls: tuple[dict[str, Any], ...] = ()
    """An assistant message's tool calls: ``{"id", "name", "arguments"}`` each."""
    parent_id: str | None = None
    """The message this one follows: None, the one stored before it (a line, and every
    message stored before branches); "" the conversation's start; else its id."""
    ttft_ms: float | None = None
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """A conversation a search found: by its title (``message`` None) or by a message."""

    conversation: Conversation
    message: StoredMessage | None = None


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    found: list[Found]
    complete: bool  # every conversation of the user was looked at
    searched: int  # how many conversations were


@dataclass(frozen=True, slots=True)
class StoredSummary:
    """The model-written summary of a conversation's turns up to and including
    ``through_message_id`` (created at ``through_at``); later turns are not in it."""

    tenant_id: str
    conversation_id: str
    text: str
    through_message_id: str
    through_at: datetime
    updated_at: datetime


class ConversationStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> tuple[bool, str]: ...

    async def create_conversation(self, conversation: Conversation, *,
                                  opened: bool = False) -> None:
        """Insert if absent; an existing conversation is left as it is. ``opened``: the
        caller's event opened it, at ``created_at``, and nothing else creates it; what
        was written to it since (a title, settings) still wins, and on Cassandra its
        deletion too."""
        ...

    async def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        ...

    async def list_conversations(self, tenant_id: str, user_id: str,
                                 limit: int = 50) -> list[Conversation]:
        """The user's conversations, newest first."""
        ...

    async def update_conversation(self, tenant_id: str, conversation_id: str, *,
                                  title: str | None = None,
                                  settings: dict[str, Any] | None = None,
                                  ) -> Conversation | None:
        """Change the title and (when given) replace the settings; None if absent."""
        ...

    async def retitle(self, tenant_id: str, conversation_id: str, title: str, *,
                      only_if: str) -> bool:
        """Set the title only while it is still ``only_if`` (a model's title never
        replaces one a person chose); whether it was set."""
        ...

    async def search(self, tenant_id: str, user_id: str, query: str,
                     limit: int) -> SearchOutcome:
        """The user's conversations whose title or messages contain ``query`` (case
        folded), newest first, at most ``limit``."""
        ...

    async def delete_conversation(self, tenant_id: str, conversation_id: str) -> bool:
        """Remove the conversation, its messages, scores and summary; ``False`` if absent."""
        ...

    async def save_message(self, message: StoredMessage) -> None:
        """Idempotent by message id: saving the same message again changes nothing."""
        ...

    async def save_scores(self, tenant_id: str, conversation_id: str, message_id: str,
                          scores: dict[str, Any]) -> None:
        """Scores may arrive before the message they describe; both orders work."""
        ...

    async def list_messages(self, tenant_id: str, conversation_id: str,
                            limit: int = 100) -> list[StoredMessage]:
        """The last ``limit`` messages, oldest first, with their scores."""
        ...

    async def get_reply(self, tenant_id: str, request_id: str) -> StoredMessage | None:
        """The assistant message that answered ``request_id``, if stored."""
        ...

    async def get_summary(self, tenant_id: str, conversation_id: str) -> StoredSummary | None:
        """The conversation's summary, if one was written."""
        ...

    async def save_summary(self, summary: StoredSummary) -> None:
        """Keep the summary that reaches furthest: one through an earlier message never
        replaces one through a later message (concurrent turns may both summarise)."""
        ...
