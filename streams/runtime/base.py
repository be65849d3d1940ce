"""What every runtime offers: records, publishing, stage specs and the runtime protocol."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from schemas.topics import REQUEST_HEADER, TopicSpec
from streams.codec import decode

__all__ = (
    "CURRENT_RECORD",
    "Broadcast",
    "Emit",
    "Handler",
    "Headers",
    "Publisher",
    "Record",
    "Runtime",
    "StageSpec",
    "StageState",
    "follow_broadcast",
    "request_of",
    "with_request_id",
)

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One message read from a topic (the physical, possibly prefixed, name)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Emit:
    """An event a handler wants published."""

    topic: TopicSpec
    key: str | None
    event: BaseModel
    # An explicit partition (a request's reply partition); None: the key's partition.
    partition: int | None = None


def with_request_id(headers: Headers, event: BaseModel) -> Headers:
    """``headers`` plus the request id header, for an event that belongs to a request."""
    rid = getattr(event, "request_id", None)
    if not isinstance(rid, str):
        return headers
    return (*headers, (REQUEST_HEADER, rid.encode()))


def request_of(record: Record) -> bytes | None:
    """The request id header of ``record``, without parsing its value."""
    for name, value in record.headers:
        if name == REQUEST_HEADER:
            return value
    return None


# A stage handles one event: an async generator of what to publish, or (a sink that
# publishes nothing, such as persistence) a coroutine.
Handler = Callable[[Any], AsyncIterator[Emit] | Awaitable[None]]

CURRENT_RECORD: ContextVar[Record | None] = ContextVar("CURRENT_RECORD", default=None)
"""The record a handler is processing (its partition, offset...), set by the runner."""


@dataclass
class StageState:
    """Keyed state of a stage, bound by the runtime when the stage starts: a Faust table
    on Kafka (changelogged, recovered with the partitions a worker is given), a dict on
    the embedded runtime. A value must be written back (``store[k] = v``) to be kept."""

    name: str
    store: MutableMapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Broadcast:
    """A topic every worker of a stage reads in full, outside the stage's consumer group
    (so each worker sees every event, not a share of the partitions), from
    ``lookback_s`` before the worker started, or from its start when None (a compacted
    topic of definitions). For control events such as cancels."""

    topic: TopicSpec
    handler: Callable[[Any], Awaitable[None]]
    lookback_s: float | None = 0.0


@dataclass(frozen=True)
class StageSpec:
    """A stage: its consumer group name, input topics and pure handler."""

    name: str
    inputs: tuple[TopicSpec, ...]
    handler: Handler
    concurrency: int = 1
    broadcasts: tuple[Broadcast, ...] = ()
    state: StageState | None = None
    # What to publish besides the dead letter when the stage gives up on a record (the
    # record, and its event when it could be decoded): e.g. the end of an answer.
    on_dead_letter: Callable[[Record, Any | None], Sequence[Emit]] | None = None


class Publisher(Protocol):
    async def send(
        self, topic: TopicSpec, key: str | None, event: BaseModel, headers: Headers = (),
        partition: int | None = None,
    ) -> Awaitable[Any]:
        """Enqueue; the returned awaitable resolves when the log has acknowledged it.
        ``partition`` overrides the key's partition when the topic has it."""
        ...

    async def publish(
        self, topic: TopicSpec, key: str | None, event: BaseModel, headers: Headers = (),
        partition: int | None = None,
    ) -> None:
        """Enqueue and wait for the acknowledgement."""
        ...


class Runtime(Protocol):
    @property
    def publisher(self) -> Publisher: ...

    @property
    def kind(self) -> str: ...

    async def start(self, stages: Sequence[StageSpec] = ()) -> None: ...

    async def stop(self) -> None: ...

    def tail(self, topic: TopicSpec, since_ms: int,
             positioned: Callable[[], None] | None = None,
             partitions: Sequence[int] | None = None,
             *, interactive: bool = True) -> AsyncIterator[Record]:
        """Every record of ``topic`` from ``since_ms`` on, then live, across ``partitions``
        (all when None). ``positioned`` is called once the start offsets are fixed: from
        then on nothing written to those partitions can be missed. A reader that is not
        ``interactive`` (a view nobody waits on token by token) may see records a few
        hundred ms later, for fewer polls of the log while it is quiet."""
        ...

    def scan(self, topic: TopicSpec, since_ms: int,
             partitions: Sequence[int] | None = None) -> AsyncIterator[Record]:
        """The records of ``topic`` from ``since_ms`` up to its end when called, then stop."""
        ...

    async def partition_count(self, topic: TopicSpec) -> int:
        """How many partitions ``topic`` has."""
        ...

    async def ready(self) -> tuple[bool, str]:
        """Whether the log is reachable, with a short human-readable detail."""
        ...


async def follow_broadcast(runtime: Runtime, spec: StageSpec, broadcast: Broadcast) -> None:
    """Feed every event of a broadcast topic to its handler until cancelled. Runs as a
    task of the runtime that started the stage; a bad event is logged and skipped."""
    since = 0 if broadcast.lookback_s is None else int(
        (time.time() - broadcast.lookback_s) * 1000)
    # Not interactive: a quiet topic is polled twice a second, not 20 times (most of an
    # idle worker's CPU). A record still comes at once, unless its partition had another
    # in the last fetch (then within that wait): rare for cancels and batch progress.
    async for record in runtime.tail(broadcast.topic, since, interactive=False):
        try:
            event = decode(broadcast.topic, record.value)
            await broadcast.handler(event)
        except Exception:
            log.exception("%s: broadcast %s@%d:%d failed", spec.name, record.topic,
                          record.partition, record.offset)
