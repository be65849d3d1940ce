"""Request and response bodies of the edge's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Citation, ToolCall, Usage

__all__ = (
    "CancelAccepted",
    "ConversationCreate",
    "ConversationList",
    "ConversationOut",
    "DocumentFromUrl",
    "DocumentList",
    "DocumentOut",
    "ErrorBody",
    "ErrorOut",
    "MessageAccepted",
    "MessageCreate",
    "MessageList",
    "MessageOut",
    "ModelList",
    "ModelOut",
    "StoredScores",
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(_In):
    title: str | None = Field(default=None, max_length=200)


class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class ConversationList(BaseModel):
    data: list[ConversationOut]


class MessageCreate(_In):
    text: str
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    web_search: bool = Field(False, description="search the web too and cite the results "
                             "(when the deployment has WEB_SEARCH; counted against the "
                             "plan's web_searches_per_month)")
    assistant: str | None = Field(None, max_length=80, description="the assistant that "
                                  "answers (`support-bot`, or `support-bot@3` for a "
                                  "version); a conversation keeps the first one it used")
    variables: dict[str, str | int | float | bool] = Field(
        default_factory=dict, max_length=32, description="values of the assistant's "
        "template variables")
    memory: bool = Field(True, description="use the caller's long-term memory (recall "
                         "facts into the answer, keep new ones); false: a temporary chat "
                         "message, which neither reads nor writes memory")


class MessageAccepted(BaseModel):
    request_id: str
    message_id: str
    conversation_id: str
    events_url: str


class CancelAccepted(BaseModel):
    request_id: str
    status: Literal["cancelling"] = "cancelling"


class StoredScores(BaseModel):
    sentiment: str
    sentiment_score: float
    intent: str
    quality: float
    lead_score: float


class MessageOut(BaseModel):
    id: str
    request_id: str
    role: Literal["user", "assistant"]
    text: str
    created_at: datetime
    model: str | None = None
    provider: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    scores: StoredScores | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """The tools an assistant message called (``result`` is not stored)."""


class MessageList(BaseModel):
    data: list[MessageOut]


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    """When the model was configured (the catalogue's time), as OpenAI's Unix seconds."""
    owned_by: str
    kind: Literal["chat", "embedding"] = "chat"
    """``chat``: answers (chat completions, Responses); ``embedding``: /v1/embeddings."""
    provider: str
    description: str
    context_window: int
    tier: str
    offline: bool
    tools: bool = False
    """Calls tools (``tools`` in a chat completion)."""
    vision: bool = False
    """Reads images (``image_url`` content parts)."""
    json_mode: bool = False
    """Honours ``response_format``."""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


class DocumentOut(BaseModel):
    id: str
    title: str
    filename: str
    media_type: str
    size: int
    conversation_id: str | None = None
    scope: str = Field("tenant", description="where its passages may be cited: `tenant` "
                       "(every member's answers), `assistant:<name>` (that assistant's) "
                       "or `conversation:<id>` (that one's)")
    status: Literal["queued", "indexing", "ready", "failed"]
    # chunks_done / chunks_total while indexing; 1.0 once ready.
    progress: float = Field(ge=0.0, le=1.0)
    chunks_done: int
    chunks_total: int
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    url: str | None = Field(None, description="a page added by URL: its address")
    fetched_at: datetime | None = Field(None, description="when the page was last fetched")
    changes: str | None = Field(None, description="what the last re-fetch changed in its "
                                "text (a unified diff, at most 8 KiB; empty: nothing)")


class DocumentFromUrl(_In):
    url: str = Field(min_length=1, max_length=2048)
    title: str | None = Field(None, max_length=200)
    scope: str | None = Field(None, max_length=220)


class DocumentList(BaseModel):
    data: list[DocumentOut]
