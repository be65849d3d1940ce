"""Event models carried on the topics; the JSON form of each is the public contract.

Every event is a frozen pydantic model named in the past tense and shares the
:class:`Envelope` fields. Adding an optional field is compatible; removing or
retyping one needs a new ``.vN`` topic.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = (
    "GUARD_MODES",
    "SCHEMA_VERSION",
    "AnalyticsSnapshot",
    "AnswerFailed",
    "AnswerFinished",
    "AnswerStarted",
    "AssistantAggregate",
    "AssistantRef",
    "BatchCancelled",
    "BatchItemCompleted",
    "BatchStatusEvent",
    "BatchSubmitted",
    "CancelRequested",
    "Citation",
    "CitationsAttached",
    "ContextBuilt",
    "DeadLettered",
    "DocumentSubmitted",
    "Envelope",
    "GuardMode",
    "GuardVerdict",
    "HistoryFitted",
    "HistorySummary",
    "HistoryTurn",
    "ImagePart",
    "MessageReceived",
    "Passage",
    "ResponseCompleted",
    "ScoresComputed",
    "Signal",
    "StreamEvent",
    "TokensGenerated",
    "ToolCall",
    "ToolCallGenerated",
    "Usage",
    "WindowAggregate",
    "batch_conversation",
    "conversation_key",
    "new_id",
    "time_of_id",
    "utcnow",
)

SCHEMA_VERSION = 1


def new_id() -> str:
    """A time-ordered UUID (version 7, RFC 9562): 48 bits of Unix milliseconds, then 74
    random bits. The time lets a reader find a request's events in the log by time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 \
        | (0b10 << 62) | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    h = f"{value:032x}"  # str(uuid.UUID(int=value)), without the object (ids are hot)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def time_of_id(value: str) -> int | None:
    """The Unix milliseconds of a :func:`new_id`; None for an id of another kind."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    if parsed.version != 7:
        return None
    return parsed.int >> 80


def utcnow() -> datetime:
    return datetime.now(UTC)


def conversation_key(tenant_id: str, conversation_id: str) -> str:
    """The partition key of every chat event: one conversation stays on one partition."""
    return f"{tenant_id}:{conversation_id}"


GuardMode = Literal["block", "flag", "off"]
"""What the prompt guard does with a message it flags: refuse it, let it through marked as
flagged, or nothing (the guard does not read messages at all)."""
GUARD_MODES: tuple[GuardMode, ...] = get_args(GuardMode)


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(default_factory=new_id)
    tenant_id: str
    occurred_at: datetime = Field(default_factory=utcnow)


class ToolCall(BaseModel, frozen=True):
    """A function the model called, with its JSON arguments, and the tool's answer when
    the client sent it back (a ``tool`` message of OpenAI's API)."""

    id: str
    name: str
    arguments: str = ""
    result: str | None = None


class ImagePart(BaseModel, frozen=True):
    """An image in a user message (OpenAI's ``image_url`` content part)."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class AssistantRef(BaseModel, frozen=True):
    """The assistant version a request uses (see schemas/assistants.py)."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class HistoryTurn(BaseModel, frozen=True):
    role: Literal["user", "assistant", "system"]
    text: str
    message_id: str | None = None
    at: datetime | None = None
    # An assistant turn's tool calls (the results inside them): its text may be empty.
    tool_calls: tuple[ToolCall, ...] = ()
    images: tuple[ImagePart, ...] = ()
    # The participant's name a client gave the message (OpenAI's `name`): told apart
    # speakers of one role, e.g. the agents of a multi-agent conversation.
    name: str | None = None


class MessageReceived(Envelope, frozen=True):
    """A user message accepted by the edge (chat.requests.v1)."""

    type: Literal["message.received"] = "message.received"
    request_id: str
    message_id: str
    conversation_id: str
    user_id: str
    text: str
    model: str
    options: dict[str, Any] = Field(default_factory=dict)
    # The turns before ``text`` when the client sends them (POST /v1/chat/completions);
    # None: retrieval loads them from the store.
    history: tuple[HistoryTurn, ...] | None = None
    # Assistant turns after ``text`` that called tools, each call with its result: the
    # model goes on from them (an agent loop's next step). Empty for a plain question.
    tool_rounds: tuple[HistoryTurn, ...] = ()
    images: tuple[ImagePart, ...] = ()
    # The `name` the client gave its last message (see HistoryTurn.name).
    name: str | None = None
    # The partition of chat.tokens.v1 the accepting edge reads: inference produces this
    # answer's token events there, so an edge reads only the answers it serves. None
    # (batches, older producers): the conversation key's partition.
    reply_partition: int | None = Field(default=None, ge=0)
    # Search the web too (when the deployment has a search provider): results are cited
    # like document passages.
    web_search: bool = False
    # The assistant answering (its version's instructions, knowledge and tools) and the
    # values of its template's variables, built-ins included, as the edge checked them.
    assistant: AssistantRef | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    # The user's long-term memory may be read (recalled into the prompt) and written
    # (facts kept from this exchange). False for a temporary chat, a paused user, a
    # tenant without memory, and every event from before memory existed.
    memory: bool = False
    # The tenant's prompt guard mode; None: the deployment's (GUARD_MODE).
    guard_mode: GuardMode | None = None
    # The message this one follows: None, the conversation's newest stored message (a
    # line); "" its start (an edit of its first question); else that message's id (a
    # branch). History is read along it.
    parent_id: str | None = None
    # Answer the stored question ``message_id`` again (no new question is stored).
    regenerate: bool = False
    # The conversation's instructions for the model (its settings' system prompt).
    system: str | None = None
    # This request opened the conversation (the chat-completions routes open one per
    # request): nothing but this event creates it, so persistence writes it without
    # reading it first. False (every other route, older producers): it may exist.
    opens_conversation: bool = False


class HistorySummary(BaseModel, frozen=True):
    """The model's summary of a conversation's oldest turns, through one message."""

    text: str
    through_message_id: str
    through_at: datetime


class Passage(BaseModel, frozen=True):
    document_id: str
    title: str
    chunk: int
    text: str
    score: float = 0.0
    # A web search result's address (its document_id is ``web:`` and the address).
    url: str | None = None
    page: int | None = None  # the page it starts on, for a paged document (PDF)


class GuardVerdict(BaseModel, frozen=True):
    """The prompt guard's word on a request. ``category`` is set when the guard flagged
    something; ``allowed`` is False only when the request is refused for it (mode
    ``block``)."""

    allowed: bool = True
    category: str | None = None
    reason: str | None = None
    # The mode the verdict was given in, and the classifier's probability of an attack
    # for what it flagged (None: nothing was read, or events before these fields).
    mode: GuardMode | None = None
    score: float | None = None


class ContextBuilt(Envelope, frozen=True):
    """The request with what retrieval found for it (chat.contexts.v1)."""

    type: Literal["context.built"] = "context.built"
    request: MessageReceived
    history: tuple[HistoryTurn, ...] = ()
    passages: tuple[Passage, ...] = ()
    guard: GuardVerdict = GuardVerdict()
    # Turns older than ``history`` folded into a summary when they outgrew the context.
    summary: HistorySummary | None = None
    # The request's assistant's instructions, rendered: the system prompt's first part.
    instructions: str | None = None
    # Older turns of the history the client sent that were left out because they are
    # more than a context event carries (HISTORY_MAX_BYTES): reported with the answer.
    dropped_turns: int = Field(default=0, ge=0)


class HistoryFitted(BaseModel, frozen=True):
    """What was done to fit a conversation into the model's window, told to the client:
    turns folded into a summary (written by the model, its usage in the answer's), and
    turns left out."""

    summarized_turns: int = Field(default=0, ge=0)
    dropped_turns: int = Field(default=0, ge=0)


class Usage(BaseModel, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Citation(BaseModel, frozen=True):
    document_id: str
    title: str
    chunk: int
    url: str | None = None
    # The page the passage starts on (PDF), and its first words, to show without a fetch.
    page: int | None = None
    excerpt: str | None = None


class _StreamBase(Envelope, frozen=True):
    request_id: str
    conversation_id: str
    # A generation run of the request. A worker that takes over after a crash starts
    # a new attempt; the edge turns a new attempt into a ``restart`` SSE event.
    attempt: str
    seq: int


class AnswerStarted(_StreamBase, frozen=True):
    type: Literal["answer.started"] = "answer.started"
    model: str
    provider: str
    # Set when the history was summarised or cut to fit the model's window.
    history: HistoryFitted | None = None


class CitationsAttached(_StreamBase, frozen=True):
    type: Literal["citations.attached"] = "citations.attached"
    citations: tuple[Citation, ...]


class TokensGenerated(_StreamBase, frozen=True):
    type: Literal["tokens.generated"] = "tokens.generated"
    text: str


class ToolCallGenerated(_StreamBase, frozen=True):
    """A piece of a tool call the model is making: the first piece of call ``index``
    names it (``call_id``, ``name``), the following ones add to its JSON ``arguments``."""

    type: Literal["tool_call.generated"] = "tool_call.generated"
    index: int
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""


class AnswerFinished(_StreamBase, frozen=True):
    type: Literal["answer.finished"] = "answer.finished"
    message_id: str
    usage: Usage
    finish_reason: str
    # Why the answer was refused instead of generated (finish_reason ``blocked``): what the
    # client is told, in place of an answer.
    refusal: str | None = None


class AnswerFailed(_StreamBase, frozen=True):
    """The answer ended in an error. ``status`` is the HTTP status the client is told (an
    upstream's refusal keeps the upstream's own), with OpenAI's error ``error_type`` and
    ``param``, and the seconds to wait before asking again when known."""

    type: Literal["answer.failed"] = "answer.failed"
    code: str
    message: str
    status: int | None = Field(default=None, ge=400, le=599)
    error_type: str | None = None
    param: str | None = None
    retry_after_s: float | None = Field(default=None, ge=0)


StreamEvent = Annotated[
    AnswerStarted | CitationsAttached | TokensGenerated | AnswerFinished | AnswerFailed
    | ToolCallGenerated,
    Field(discriminator="type"),
]
"""Everything on chat.tokens.v1, in the order the edge relays it."""


class ResponseCompleted(Envelope, frozen=True):
    """The finished answer (chat.responses.v1)."""

    type: Literal["response.completed"] = "response.completed"
    request_id: str
    message_id: str
    conversation_id: str
    user_id: str
    reply_to: str
    prompt: str
    text: str
    model: str
    provider: str
    usage: Usage
    finish_reason: str
    attempt: str
    citations: tuple[Citation, ...] = ()
    guard: GuardVerdict = GuardVerdict()
    tool_calls: tuple[ToolCall, ...] = ()
    time_to_first_token_ms: float | None = None
    duration_ms: float
    # When the request was accepted (its MessageReceived's occurred_at): the same for
    # every attempt at the answer, so the stored answer row has one key per request and a
    # regenerated answer overwrites it. None in events written before the field existed.
    requested_at: datetime | None = None
    assistant: AssistantRef | None = None
    # Copied from the request: the memory stage keeps facts only from such exchanges.
    memory: bool = False


class Signal(BaseModel, frozen=True):
    name: str
    weight: float


class ScoresComputed(Envelope, frozen=True):
    """What scoring concluded about one answered turn (chat.scores.v1)."""

    type: Literal["scores.computed"] = "scores.computed"
    request_id: str
    message_id: str
    conversation_id: str
    user_id: str
    sentiment: Literal["positive", "neutral", "negative"]
    sentiment_score: float = Field(ge=-1.0, le=1.0)
    intent: Literal["faq", "booking", "sales", "support", "escalation", "other"]
    quality: float = Field(ge=0.0, le=1.0)
    lead_score: float = Field(ge=0.0, le=1.0)
    signals: dict[str, tuple[Signal, ...]] = Field(default_factory=dict)
    # The assistant version that answered, for analytics per assistant and version.
    assistant: AssistantRef | None = None


class DocumentSubmitted(Envelope, frozen=True):
    """A document to index (docs.ingest.v1)."""

    type: Literal["document.submitted"] = "document.submitted"
    document_id: str
    filename: str
    media_type: str
    blob_ref: str
    conversation_id: str | None = None
    user_id: str
    # A page to fetch (the ingestion stage fetches it; blob_ref then holds its last text),
    # and whether this is a re-fetch asked for after it was indexed.
    url: str | None = None
    refetch: bool = False


class CancelRequested(Envelope, frozen=True):
    """A client asked to stop generating an answer (chat.control.v1)."""

    type: Literal["cancel.requested"] = "cancel.requested"
    request_id: str
    conversation_id: str
    user_id: str


class DeadLettered(Envelope, frozen=True):
    """An event a stage could not process (chat.dlq.v1)."""

    type: Literal["dead.lettered"] = "dead.lettered"
    stage: str
    topic: str
    partition: int
    offset: int
    key: str | None
    original: str
    error: str
    error_type: str
    attempts: int


class AssistantAggregate(BaseModel, frozen=True):
    """One assistant version's share of a window (sums, like the window's)."""

    messages: int = 0
    responses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scored: int = 0
    quality_sum: float = 0.0


class WindowAggregate(BaseModel, frozen=True):
    """What happened in one tenant's window (a minute or an hour, by event time) on one
    partition of the chat topics. Sums, so windows of several partitions add up."""

    start: datetime
    messages: int = 0
    responses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scored: int = 0
    quality_sum: float = 0.0
    intents: dict[str, int] = Field(default_factory=dict)
    sentiments: dict[str, int] = Field(default_factory=dict)
    leads: int = 0
    # Time to first token of the window's answers by model, in ms: samples spread evenly
    # over the window, at most 100 per model, so percentiles can be taken over partitions.
    ttft_ms: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    # The same sums per assistant version (``name@version``), for the turns one answered.
    assistants: dict[str, AssistantAggregate] = Field(default_factory=dict)


class AnalyticsSnapshot(Envelope, frozen=True):
    """The analytics consumer's aggregates of one tenant on one partition of the chat
    topics (analytics.summary.v1, compacted: the newest snapshot per key is the state)."""

    type: Literal["analytics.snapshot"] = "analytics.snapshot"
    group: str
    partition: int
    lead_threshold: float
    minutes: tuple[WindowAggregate, ...] = ()
    hours: tuple[WindowAggregate, ...] = ()


class BatchSubmitted(Envelope, frozen=True):
    """A batch of prompts to answer at low priority (chat.batch.requests.v1)."""

    type: Literal["batch.submitted"] = "batch.submitted"
    batch_id: str
    user_id: str
    model: str
    options: dict[str, Any] = Field(default_factory=dict)
    prompts: tuple[str, ...]


class BatchItemCompleted(Envelope, frozen=True):
    """One prompt of a batch answered (chat.batch.status.v1)."""

    type: Literal["batch.item.completed"] = "batch.item.completed"
    batch_id: str
    index: int
    request_id: str
    text: str
    model: str
    usage: Usage
    finish_reason: str


class BatchCancelled(Envelope, frozen=True):
    """A client cancelled a batch: prompts not yet fed are dropped (chat.batch.status.v1)."""

    type: Literal["batch.cancelled"] = "batch.cancelled"
    batch_id: str
    user_id: str


BatchStatusEvent = Annotated[BatchItemCompleted | BatchCancelled, Field(discriminator="type")]
"""Everything on chat.batch.status.v1."""


def batch_conversation(batch_id: str, index: int) -> str:
    """The conversation of one batch prompt: its own, so prompts share no history."""
    return f"batch-{batch_id}-{index}"
