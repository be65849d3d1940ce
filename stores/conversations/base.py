"""The conversation store interface. Every call is scoped by tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ("Conversation", "ConversationStore", "StoredMessage", "StoredSummary")


@dataclass(frozen=True, slots=True)
class Conversation:
    tenant_id: str
    id: str
    user_id: str
    title: str
    created_at: datetime


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

    async def create_conversation(self, conversation: Conversation) -> None:
        """Insert if absent; an existing conversation is left as it is."""
        ...

    async def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        ...

    async def list_conversations(self, tenant_id: str, user_id: str,
                                 limit: int = 50) -> list[Conversation]:
        """The user's conversations, newest first."""
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
