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
    "ConversationSettings",
    "ConversationUpdate",
    "DocumentFromUrl",
    "DocumentList",
    "DocumentOut",
    "ErrorBody",
    "ErrorOut",
    "MessageAccepted",
    "MessageCreate",
    "MessageList",
    "MessageOut",
    "MessageTimings",
    "ModelList",
    "ModelOut",
    "PassageOut",
    "Regenerate",
    "SearchHit",
    "SearchResults",
    "StoredScores",
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationSettings(_In):
    """How a conversation's messages are answered unless a message says otherwise."""

    system_prompt: str | None = Field(None, max_length=4000, description=(
        "instructions the model reads before the conversation"))
    model: str | None = Field(None, max_length=200, description=(
        "the model its messages use when they name none"))
    temperature: float | None = Field(None, ge=0, le=2, description=(
        "the temperature its messages use when their options set none"))


class ConversationCreate(_In):
    title: str | None = Field(default=None, max_length=200)
    settings: ConversationSettings | None = None


class ConversationUpdate(_In):
    title: str | None = Field(None, min_length=1, max_length=200)
    settings: ConversationSettings | None = Field(None, description=(
        "replaces the settings as a whole"))


class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    settings: ConversationSettings | None = Field(None, description=(
        "in the answers about one conversation; not in lists"))


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
    parent_id: str | None = Field(None, max_length=100, description=(
        "the message this one follows (a branch shown that is not the newest); absent: "
        "the conversation's newest message"))
    replaces: str | None = Field(None, max_length=100, description=(
        "a question of the conversation this one is a new version of (an edit): it "
        "follows what that one followed, and the answers to the old version stay, as "
        "another branch"))


class Regenerate(_In):
    """Answer a question of the conversation again (another version of its answer)."""

    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    web_search: bool = False


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


class MessageTimings(BaseModel):
    ttft_ms: float | None = Field(None, description="from the request to the first token")
    duration_ms: float | None = Field(None, description="from the request to the end")


class MessageOut(BaseModel):
    id: str
    request_id: str
    role: Literal["user", "assistant"]
    text: str
    created_at: datetime
    parent_id: str | None = Field(None, description=(
        "the message this one follows (null: the conversation's first); several "
        "messages with one parent are versions: edits of a question, regenerated answers"))
    model: str | None = None
    provider: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    scores: StoredScores | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """The tools an assistant message called (``result`` is not stored)."""
    timings: MessageTimings | None = None


class MessageList(BaseModel):
    data: list[MessageOut]


class SearchHit(BaseModel):
    conversation_id: str
    title: str
    created_at: datetime
    message_id: str | None = Field(None, description="null: the title matched")
    snippet: str | None = Field(None, description="the matching message around the match")


class SearchResults(BaseModel):
    data: list[SearchHit]
    complete: bool = Field(description=(
        "every conversation of the caller was searched (false: only the newest "
        "`searched`; see the README on search)"))
    searched: int = Field(description="conversations looked at")


class PassageOut(BaseModel):
    document_id: str
    title: str
    chunk: int
    page: int | None = Field(None, description="the page it starts on (PDF)")
    text: str


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
    available: bool = True
    """Can answer here (its provider is configured and its model installed)."""
    unavailable_reason: str | None = None


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
