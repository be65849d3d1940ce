"""The embedded runtime: an in-process partitioned log with consumer groups.

Same topic names, keys, partitions, committed offsets, retention and replay as Kafka,
for one-machine use (`chatstream up`) and fast tests; durable when given a file (what
`chatstream up` does). It is never the scale-out path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kernel.settings import Settings, TopicRetention
from kernel.telemetry.tracing import with_trace
from schemas.stages import group_name, topic_name
from schemas.topics import ALL_TOPICS, TOKENS, TopicSpec
from streams.codec import encode
from streams.runtime.base import (
    Headers,
    Record,
    StageSpec,
    follow_broadcast,
    with_request_id,
)
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.lag import Offsets
from streams.runtime.offsets import OffsetTracker
from streams.runtime.retention import topic_retention
from streams.runtime.runner import StageRetry, StageRunner

__all__ = ("EmbeddedLog", "EmbeddedRuntime")

log = logging.getLogger(__name__)


class EmbeddedPublisher:
    def __init__(self, log_: EmbeddedLog, prefix: str) -> None:
        self._log = log_
        self._prefix = prefix

    async def send(self, topic: TopicSpec, key: str | None, event: BaseModel,
                   headers: Headers = (), partition: int | None = None) -> Awaitable[Any]:
        headers = with_request_id(with_trace(headers, event), event)
        _, acked = self._log.append_nowait(
            topic_name(topic, self._prefix), key.encode() if key is not None else None,
            encode(event), headers, partition,
        )
        return acked

    async def publish(self, topic: TopicSpec, key: str | None, event: BaseModel,
                      headers: Headers = (), partition: int | None = None) -> None:
        await (await self.send(topic, key, event, headers, partition))


class _GroupConsumer:
    """One consumer group of one stage: a reader per partition, ``concurrency`` events
    in flight at most, commits that never pass an unfinished event."""

    def __init__(self, log_: EmbeddedLog, group: str, topics: Sequence[str],
                 runner: StageRunner, concurrency: int) -> None:
        self._log = log_
        self.group = group
        self.topics = topics
        self.stage = runner.spec.name
        self._runner = runner
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        for topic in self.topics:
            for p in range(len(self._log.partitions(topic))):
                self._tasks.append(asyncio.create_task(self._read(topic, p)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Events in flight are cancelled, not committed: a restart redelivers them.
        for t in list(self._inflight):
            t.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _read(self, topic: str, partition: int) -> None:
        offset = self._log.committed(self.group, topic, partition)
        tracker = OffsetTracker(offset)
        while True:
            seen = self._log.appended(topic)
            batch = await self._log.read(topic, partition, offset)
            if not batch:
                await self._log.wait(topic, 1.0, seen)
                continue
            if offset < batch[0].offset and offset < self._log.partitions(topic)[partition].start:
                log.warning("%s: %s[%d] offsets %d..%d are beyond retention; resuming at "
                            "the earliest available, %d", self.group, topic, partition,
                            offset, batch[0].offset - 1, batch[0].offset)
            for record in batch:
                # Gaps: dropped by retention, or older values of a compacted key.
                tracker.skip(offset, record.offset)
                offset = record.offset + 1
                await self._slots.acquire()
                task = asyncio.create_task(self._one(record, tracker))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    async def _one(self, record: Record, tracker: OffsetTracker) -> None:
        try:
            await self._runner.process(record)
            tracker.done(record.offset)
            self._log.commit(self.group, record.topic, record.partition, tracker.committable)
        except Exception:
            log.exception("stage %s failed on %s@%d", self.group, record.topic, record.offset)
        finally:
            self._slots.release()


class EmbeddedRuntime:
    """All stages and the edge in one process, sharing one :class:`EmbeddedLog`; a
    durable one in a file at ``path`` when given."""

    kind = "embedded"

    def __init__(self, *, partitions: int = 6, topic_prefix: str = "",
                 retry: StageRetry | None = None, log_: EmbeddedLog | None = None,
                 path: Path | None = None,
                 retention: Mapping[str, TopicRetention] | None = None,
                 cache_bytes: int = 16 << 20, retention_check_s: float = 30.0) -> None:
        self._owns_log = log_ is None
        self.log = log_ or EmbeddedLog(
            partitions, path=path, retention=topic_retention(topic_prefix, retention),
            light=(topic_name(TOKENS, topic_prefix),), cache_bytes=cache_bytes)
        self._prefix = topic_prefix
        self._retry = retry or StageRetry.of(Settings.defaults())
        self._retention_check_s = retention_check_s
        self._publisher = EmbeddedPublisher(self.log, topic_prefix)
        self._groups: list[_GroupConsumer] = []
        self._broadcasts: list[asyncio.Task[None]] = []
        self._retention: asyncio.Task[None] | None = None

    @property
    def publisher(self) -> EmbeddedPublisher:
        return self._publisher

    async def start(self, stages: Sequence[StageSpec] = ()) -> None:
        await self.log.open()
        for t in ALL_TOPICS:
            self.log.partitions(topic_name(t, self._prefix))
        if self._owns_log and self._retention is None:
            self._retention = asyncio.create_task(self._enforce_retention())
        for spec in stages:
            name = group_name(spec.name, self._prefix)
            if spec.state is not None:
                # Kept with the group's offsets, so a restart resumes both together.
                spec.state.store = await self.log.state_store(f"{name}-{spec.state.name}")
            runner = StageRunner(spec, self._publisher, self._retry, topic_prefix=self._prefix)
            group = _GroupConsumer(
                self.log, name,
                [topic_name(t, self._prefix) for t in spec.inputs], runner, spec.concurrency,
            )
            group.start()
            self._groups.append(group)
            self._broadcasts += [asyncio.create_task(follow_broadcast(self, spec, b))
                                 for b in spec.broadcasts]

    async def _enforce_retention(self) -> None:
        while True:
            await asyncio.sleep(self._retention_check_s)
            try:
                await self.log.enforce_retention()
            except Exception:
                log.exception("embedded log: retention check failed")

    async def stop(self) -> None:
        for t in self._broadcasts:
            t.cancel()
        await asyncio.gather(*self._broadcasts, return_exceptions=True)
        self._broadcasts.clear()
        await asyncio.gather(*(g.stop() for g in self._groups))
        self._groups.clear()
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        if self._owns_log:
            await self.log.close()

    async def partition_count(self, topic: TopicSpec) -> int:
        return len(self.log.partitions(topic_name(topic, self._prefix)))

    async def tail(self, topic: TopicSpec, since_ms: int,
                   positioned: Callable[[], None] | None = None,
                   partitions: Sequence[int] | None = None,
                   *, interactive: bool = True) -> AsyncIterator[Record]:
        # In process, a reader is woken by the append itself: nothing is polled.
        name = topic_name(topic, self._prefix)
        parts = self.log.partitions(name)
        read = [p for p in range(len(parts)) if partitions is None or p in partitions]
        positions = {p: await self.log.offset_for_time(name, p, since_ms) for p in read}
        if positioned is not None:
            positioned()
        while True:
            seen = self.log.appended(name)
            progressed = False
            for p in read:
                for record in await self.log.read(name, p, positions[p]):
                    positions[p] = record.offset + 1
                    progressed = True
                    yield record
            if not progressed:
                await self.log.wait(name, 1.0, seen)

    async def scan(self, topic: TopicSpec, since_ms: int,
                   partitions: Sequence[int] | None = None) -> AsyncIterator[Record]:
        name = topic_name(topic, self._prefix)
        parts = self.log.partitions(name)
        ends = [part.end for part in parts]
        for p in range(len(parts)):
            if partitions is not None and p not in partitions:
                continue
            offset = await self.log.offset_for_time(name, p, since_ms)
            while offset < ends[p]:
                batch = await self.log.read(name, p, offset)
                if not batch:
                    break
                for record in batch:
                    if record.offset >= ends[p]:
                        break
                    yield record
                offset = max(offset, batch[-1].offset + 1)

    async def ready(self) -> tuple[bool, str]:
        return True, "embedded log (on disk)" if self.log.durable else "embedded log"

    async def offsets(self, stages: Sequence[str]) -> list[Offsets]:
        """Committed and end offsets of the stages running here (consumer lag)."""
        out = []
        for g in self._groups:
            stage = g.stage
            if stage not in stages:
                continue
            for topic in g.topics:
                for p, part in enumerate(self.log.partitions(topic)):
                    out.append(Offsets(stage, topic, p, self.log.committed(g.group, topic, p),
                                       part.end))
        return out
