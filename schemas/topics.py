"""The topic registry: the one place topic names, keys and value types are written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

from schemas import assistants, events

__all__ = (
    "ALL_TOPICS",
    "ANALYTICS",
    "ASSISTANTS",
    "BATCH_REQUESTS",
    "BATCH_STATUS",
    "CONTEXTS",
    "CONTROL",
    "DLQ",
    "INGEST",
    "REQUESTS",
    "REQUEST_HEADER",
    "RESPONSES",
    "SCORES",
    "TOKENS",
    "TopicSpec",
)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    value_type: Any
    key: Literal["conversation", "document", "tenant", "batch", "assistant", "none"]
    partitions: int = 6
    retention_ms: int = 7 * 24 * 3600 * 1000
    # Per partition, as Kafka's retention.bytes; -1: no size limit.
    retention_bytes: int = -1
    # Compacted topics keep the newest value of each key instead of expiring by age.
    compacted: bool = False
    description: str = ""

    def adapter(self) -> TypeAdapter[Any]:
        return _adapter(self.value_type)


_adapters: dict[int, TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> TypeAdapter[Any]:
    # TypeAdapter construction is costly; one per value type, built on first use.
    found = _adapters.get(id(tp))
    if found is None:
        found = _adapters[id(tp)] = TypeAdapter(tp)
    return found


REQUEST_HEADER = "chatstream-request-id"
"""The Kafka header naming the request an event belongs to (on every event that has a
``request_id``): a reader skips the records of answers it does not serve unparsed."""

REQUESTS = TopicSpec(
    "chat.requests.v1", events.MessageReceived, key="conversation",
    description="User messages accepted by the edge.",
)
CONTEXTS = TopicSpec(
    "chat.contexts.v1", events.ContextBuilt, key="conversation",
    description="Requests with history, passages and the guard verdict.",
)
TOKENS = TopicSpec(
    "chat.tokens.v1", events.StreamEvent, key="conversation",
    retention_ms=24 * 3600 * 1000, retention_bytes=256 * 1024 * 1024,
    description="Token chunks and terminal events of every answer.",
)
RESPONSES = TopicSpec(
    "chat.responses.v1", events.ResponseCompleted, key="conversation",
    description="Completed answers.",
)
SCORES = TopicSpec(
    "chat.scores.v1", events.ScoresComputed, key="conversation",
    description="Sentiment, intent, quality and lead scores per answered turn.",
)
INGEST = TopicSpec(
    "docs.ingest.v1", events.DocumentSubmitted, key="document",
    description="Documents to extract, chunk, embed and index.",
)
CONTROL = TopicSpec(
    "chat.control.v1", events.CancelRequested, key="conversation",
    retention_ms=24 * 3600 * 1000,
    description="Control of answers under way: cancel requests. Every inference worker "
                "reads all of it, outside any consumer group.",
)
DLQ = TopicSpec(
    "chat.dlq.v1", events.DeadLettered, key="none", partitions=1,
    retention_ms=30 * 24 * 3600 * 1000,
    description="Events a stage could not process, with the error.",
)

ANALYTICS = TopicSpec(
    "analytics.summary.v1", events.AnalyticsSnapshot, key="tenant", partitions=1,
    compacted=True,
    description="Windowed aggregates per tenant and chat-topic partition, by the analytics "
                "consumer group that computed them; keyed group:tenant:partition.",
)

BATCH_REQUESTS = TopicSpec(
    "chat.batch.requests.v1", events.BatchSubmitted, key="batch",
    description="Batches of prompts; the batches stage feeds them into chat.requests.v1 "
                "a few at a time, so interactive answers never queue behind a batch.",
)
BATCH_STATUS = TopicSpec(
    "chat.batch.status.v1", events.BatchStatusEvent, key="batch",
    description="Answered batch prompts and batch cancels, keyed tenant:batch.",
)

ASSISTANTS = TopicSpec(
    "assistants.v1", assistants.AssistantPublished, key="assistant", partitions=1,
    compacted=True,
    description="Every version of every assistant, keyed tenant:name:version; the edge "
                "and retrieval read it whole, so a message never waits on a store read "
                "for its assistant.",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    REQUESTS, CONTEXTS, TOKENS, RESPONSES, SCORES, CONTROL, INGEST, DLQ, ANALYTICS,
    BATCH_REQUESTS, BATCH_STATUS, ASSISTANTS)
