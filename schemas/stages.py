"""The stage registry: the one place every stage, its topics, the roles worker processes
run and their consumer groups are named, and the one place physical topic and group names
are built from a prefix.

The command line, the composition root, the runtimes, the local cluster, the test stacks,
docker-compose.kafka.yml and the Kubernetes manifests follow it (tests/deploy and
tests/integration/test_compose.py fail when a deployment lacks a stage).
"""

from __future__ import annotations

from collections.abc import Iterable
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
    "MEMORY",
    "PERSISTENCE",
    "RETRIEVAL",
    "ROLES",
    "SCORING",
    "STAGES",
    "STAGE_NAMES",
    "Role",
    "StageInfo",
    "analytics_name",
    "group_name",
    "role_name",
    "role_stages",
    "stage_info",
    "stage_names",
    "topic_name",
)

Path = Literal["chat", "documents", "analytics", "batches"]


def topic_name(topic: TopicSpec | str, prefix: str = "") -> str:
    """The physical name of a topic: ``CHATSTREAM_TOPIC_PREFIX`` + its registered name."""
    return prefix + (topic if isinstance(topic, str) else topic.name)


def group_name(role: str, prefix: str = "") -> str:
    """The consumer group of a role (see :func:`role_name`; a role of one stage is named
    after it) or of a reader such as ``replay``."""
    return f"{prefix}chatstream-{role}"


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
        """The consumer group of this stage when a worker runs it alone."""
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
MEMORY = StageInfo(
    "memory", (RESPONSES,), (), "chat", knowledge=True,
    description="facts about the user proposed from finished exchanges, kept and indexed "
                "per user for recall")
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
    RETRIEVAL, INFERENCE, SCORING, PERSISTENCE, MEMORY, INGESTION, ANALYTICS_STAGE, BATCHES,
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


@dataclass(frozen=True)
class Role:
    """A set of stages one worker process runs: one consumer group (``chatstream-<name>``),
    so identical processes of a role share its partitions and roles scale apart."""

    name: str
    stages: tuple[str, ...]
    description: str


# The roles the deployments run (make cluster, docker-compose.kafka.yml, deploy/k8s):
# inference waits on models and scales on its own; the stages after an answer are cheap
# and share one process. Any other set of stages is a role too (see role_name).
ROLES: tuple[Role, ...] = (
    Role("retrieval", (RETRIEVAL.name,), RETRIEVAL.description),
    Role("inference", (INFERENCE.name,), INFERENCE.description),
    # Both read users' text into the vector index with the same embedder.
    Role("ingestion", (INGESTION.name, MEMORY.name),
         "documents indexed, and facts about users kept from their exchanges"),
    Role("pipeline", (SCORING.name, PERSISTENCE.name, ANALYTICS_STAGE.name, BATCHES.name,
                      BATCH_RESULTS.name),
         "what follows an answer: scores, the stored conversation, analytics and batches"),
    Role("all", STAGE_NAMES, "every stage in one process (chatstream up)"),
)


def role_name(stages: Iterable[str]) -> str:
    """The role of a worker running ``stages``: a registered role's name when the set is
    one, else the stages in registry order joined by ``.`` (a group id is also part of
Faust's internal topic names, which allow no ``+``). A stage alone is its own role,
    so its consumer group is the one it had when every stage ran apart."""
    ordered = sorted(set(stages), key=_registry_order)
    if not ordered:
        raise ValueError("a role runs at least one stage")
    for role in ROLES:
        if set(role.stages) == set(ordered):
            return role.name
    return ".".join(ordered)


def _registry_order(name: str) -> tuple[int, str]:
    try:
        return STAGES.index(stage_info(name)), name
    except KeyError:
        return len(STAGES), name  # a stage of a test or an extension: after the registry's


def role_stages(name: str) -> tuple[str, ...]:
    """The stages of the role called ``name`` (a registered role, a stage, or stages
    joined by ``.``); KeyError when a part names no stage."""
    for role in ROLES:
        if role.name == name:
            return role.stages
    parts = tuple(name.split("."))
    for part in parts:
        stage_info(part)
    return parts
