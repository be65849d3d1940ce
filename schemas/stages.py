"""The stage registry: the one place every stage, its topics and its consumer group are
named, and the one place physical topic and group names are built from a prefix.

The command line, the composition root, the runtimes, the local cluster, the test stacks,
docker-compose.kafka.yml and the Kubernetes manifests follow it (tests/deploy and
tests/integration/test_compose.py fail when a deployment lacks a stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.topics import (
    ANALYTICS,
    ASSISTANTS,
    BATCH_REQUESTS,
    BATCH_STATUS,
    CONTEXTS,
    CONTROL,
    INGEST,
    REQUESTS,
    RESPONSES,
    SCORES,
    TOKENS,
    TopicSpec,
)

__all__ = (
    "ANALYTICS_STAGE",
    "BATCHES",
    "BATCH_RESULTS",
    "INFERENCE",
    "INGESTION",
    "KNOWLEDGE_STAGES",
    "PERSISTENCE",
    "RETRIEVAL",
    "SCORING",
    "STAGES",
    "STAGE_NAMES",
    "StageInfo",
    "analytics_name",
    "group_name",
    "stage_info",
    "stage_names",
    "topic_name",
)

Path = Literal["chat", "documents", "analytics", "batches"]


def topic_name(topic: TopicSpec | str, prefix: str = "") -> str:
    """The physical name of a topic: ``CHATSTREAM_TOPIC_PREFIX`` + its registered name."""
    return prefix + (topic if isinstance(topic, str) else topic.name)


def group_name(stage: str, prefix: str = "") -> str:
    """The consumer group of a stage (or of a reader such as ``replay``)."""
    return f"{prefix}chatstream-{stage}"


def analytics_name(suffix: str = "") -> str:
    """The stage (and so consumer group) name of the analytics group ``suffix``: several
    analytics groups with their own settings can read the same topics side by side."""
    return f"analytics-{suffix}" if suffix else "analytics"


@dataclass(frozen=True)
class StageInfo:
    """``inputs`` are read in the stage's consumer group (its lag is its work);
    ``broadcasts`` are read whole by every worker, outside the group; ``outputs`` are
    what its handler emits (besides the dead-letter topic every stage may write)."""

    name: str
    inputs: tuple[TopicSpec, ...]
    outputs: tuple[TopicSpec, ...]
    path: Path
    description: str
    broadcasts: tuple[TopicSpec, ...] = ()
    # Needs the documents, the embedder and the vector index.
    knowledge: bool = False

    def group(self, prefix: str = "") -> str:
        return group_name(self.name, prefix)


RETRIEVAL = StageInfo(
    "retrieval", (REQUESTS,), (CONTEXTS,), "chat", knowledge=True, broadcasts=(ASSISTANTS,),
    description="history, the prompt guard, passages and the assistant's instructions, "
                "attached to the request")
INFERENCE = StageInfo(
    "inference", (CONTEXTS,), (TOKENS, RESPONSES), "chat", broadcasts=(CONTROL,),
    description="the model's answer as token chunks, then the completed response")
SCORING = StageInfo(
    "scoring", (RESPONSES,), (SCORES,), "chat",
    description="sentiment, intent, answer quality and lead score of each answered turn")
PERSISTENCE = StageInfo(
    "persistence", (REQUESTS, RESPONSES, SCORES), (), "chat",
    description="requests, responses and scores into the conversation store")
INGESTION = StageInfo(
    "ingestion", (INGEST,), (), "documents", knowledge=True,
    description="documents extracted, split, embedded and indexed")
ANALYTICS_STAGE = StageInfo(
    analytics_name(), (REQUESTS, RESPONSES, SCORES), (ANALYTICS,), "analytics",
    description="windowed aggregates per tenant")
BATCHES = StageInfo(
    "batches", (BATCH_REQUESTS,), (REQUESTS,), "batches",
    broadcasts=(BATCH_STATUS, REQUESTS, RESPONSES),
    description="batch prompts fed into the chat path a few at a time")
BATCH_RESULTS = StageInfo(
    "batch-results", (RESPONSES,), (BATCH_STATUS,), "batches",
    description="answered batch prompts recorded in the batch's status")

STAGES: tuple[StageInfo, ...] = (
    RETRIEVAL, INFERENCE, SCORING, PERSISTENCE, INGESTION, ANALYTICS_STAGE, BATCHES,
    BATCH_RESULTS)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
KNOWLEDGE_STAGES = frozenset(s.name for s in STAGES if s.knowledge)


def stage_names(*paths: Path) -> tuple[str, ...]:
    """The stages on the given paths (all of them when none is given), in order."""
    return tuple(s.name for s in STAGES if not paths or s.path in paths)


def stage_info(name: str) -> StageInfo:
    """The stage called ``name``; ``analytics-<suffix>`` is the analytics stage."""
    for info in STAGES:
        if info.name == name:
            return info
    if name.startswith(analytics_name() + "-"):
        return ANALYTICS_STAGE
    raise KeyError(name)
