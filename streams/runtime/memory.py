"""The embedded runtime: an in-process partitioned log with consumer groups.

Same topic names, keys, partitions, committed offsets and replay as Kafka, for
one-machine use (`chatstream up`) and fast tests. It is never the scale-out path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel

from schemas.topics import ALL_TOPICS, TopicSpec
from streams.codec import encode
from streams.runtime.base import (
    Headers,
    Record,
    StageSpec,
    follow_broadcast,
    with_request_id,
)
from streams.runtime.offsets import OffsetTracker
from streams.runtime.runner import StageRunner
from streams.telemetry.lag import Offsets
from streams.telemetry.tracing import with_trace

__all__ = ("MemoryLog", "MemoryRuntime")

log = logging.getLogger(__name__)


def partition_for(key: bytes | None, partitions: int, counter: int) -> int:
    if key is None:
        return counter % partitions
    return zlib.crc32(key) % partitions


class MemoryLog:
    """Append-only partitions per topic, with committed offsets per consumer group."""

    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._parts: dict[str, list[list[Record]]] = {}
        self._changed: dict[str, asyncio.Condition] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._counter = 0

    def partitions(self, topic: str) -> list[list[Record]]:
        parts = self._parts.get(topic)
        if parts is None:
            parts = self._parts[topic] = [[] for _ in range(self._partitions)]
            self._changed[topic] = asyncio.Condition()
        return parts

    async def append(self, topic: str, key: bytes | None, value: bytes,
                     headers: Headers = (), partition: int | None = None) -> Record:
        parts = self.partitions(topic)
        self._counter += 1
        p = partition if partition is not None and 0 <= partition < len(parts) \
            else partition_for(key, len(parts), self._counter)
        record = Record(topic, p, len(parts[p]), key, value, int(time.time() * 1000), headers)
        parts[p].append(record)
        cond = self._changed[topic]
        async with cond:
            cond.notify_all()
        return record

    async def wait(self, topic: str, timeout_s: float) -> None:
        self.partitions(topic)
        cond = self._changed[topic]
        async with cond:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cond.wait(), timeout_s)

    def committed(self, group: str, topic: str, partition: int) -> int:
        return self._committed.get((group, topic, partition), 0)

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        self._committed[(group, topic, partition)] = offset

    def offset_for_time(self, topic: str, partition: int, since_ms: int) -> int:
        records = self.partitions(topic)[partition]
        for r in records:
            if r.timestamp_ms >= since_ms:
                return r.offset
        return len(records)


class MemoryPublisher:
    def __init__(self, log_: MemoryLog, prefix: str) -> None:
        self._log = log_
        self._prefix = prefix

    async def send(self, topic: TopicSpec, key: str | None, event: BaseModel,
                   headers: Headers = (), partition: int | None = None) -> Awaitable[Any]:
        headers = with_request_id(with_trace(headers, event), event)
        record = await self._log.append(
            self._prefix + topic.name, key.encode() if key is not None else None,
            encode(event), headers, partition,
        )
        done: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        done.set_result(record)
        return done

    async def publish(self, topic: TopicSpec, key: str | None, event: BaseModel,
                      headers: Headers = (), partition: int | None = None) -> None:
        await (await self.send(topic, key, event, headers, partition))


class _GroupConsumer:
    """One consumer group of one stage: a reader per partition, ``concurrency`` events
    in flight at most, commits that never pass an unfinished event."""

    def __init__(self, log_: MemoryLog, group: str, topics: Sequence[str],
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
        records = self._log.partitions(topic)[partition]
        while True:
            while offset < len(records):
                record = records[offset]
                offset += 1
                await self._slots.acquire()
                task = asyncio.create_task(self._one(record, tracker))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            await self._log.wait(topic, 1.0)

    async def _one(self, record: Record, tracker: OffsetTracker) -> None:
        try:
            await self._runner.process(record)
            tracker.done(record.offset)
            self._log.commit(self.group, record.topic, record.partition, tracker.committable)
        except Exception:
            log.exception("stage %s failed on %s@%d", self.group, record.topic, record.offset)
        finally:
            self._slots.release()


class MemoryRuntime:
    """All stages and the edge in one process, sharing one :class:`MemoryLog`."""

    kind = "memory"

    def __init__(self, *, partitions: int = 6, topic_prefix: str = "", retries: int = 3,
                 log_: MemoryLog | None = None) -> None:
        self.log = log_ or MemoryLog(partitions)
        self._prefix = topic_prefix
        self._retries = retries
        self._publisher = MemoryPublisher(self.log, topic_prefix)
        self._groups: list[_GroupConsumer] = []
        self._broadcasts: list[asyncio.Task[None]] = []

    @property
    def publisher(self) -> MemoryPublisher:
        return self._publisher

    async def start(self, stages: Sequence[StageSpec] = ()) -> None:
        for t in ALL_TOPICS:
            self.log.partitions(self._prefix + t.name)
        for spec in stages:
            runner = StageRunner(spec, self._publisher, topic_prefix=self._prefix,
                                 retries=self._retries)
            group = _GroupConsumer(
                self.log, f"{self._prefix}chatstream-{spec.name}",
                [self._prefix + t.name for t in spec.inputs], runner, spec.concurrency,
            )
            group.start()
            self._groups.append(group)
            self._broadcasts += [asyncio.create_task(follow_broadcast(self, spec, b))
                                 for b in spec.broadcasts]

    async def stop(self) -> None:
        for t in self._broadcasts:
            t.cancel()
        await asyncio.gather(*self._broadcasts, return_exceptions=True)
        self._broadcasts.clear()
        await asyncio.gather(*(g.stop() for g in self._groups))
        self._groups.clear()

    async def partition_count(self, topic: TopicSpec) -> int:
        return len(self.log.partitions(self._prefix + topic.name))

    async def tail(self, topic: TopicSpec, since_ms: int,
                   positioned: Callable[[], None] | None = None,
                   partitions: Sequence[int] | None = None) -> AsyncIterator[Record]:
        name = self._prefix + topic.name
        parts = self.log.partitions(name)
        read = [p for p in range(len(parts)) if partitions is None or p in partitions]
        positions = {p: self.log.offset_for_time(name, p, since_ms) for p in read}
        if positioned is not None:
            positioned()
        while True:
            progressed = False
            for p in read:
                records = parts[p]
                while positions[p] < len(records):
                    yield records[positions[p]]
                    positions[p] += 1
                    progressed = True
            if not progressed:
                await self.log.wait(name, 1.0)

    async def scan(self, topic: TopicSpec, since_ms: int,
                   partitions: Sequence[int] | None = None) -> AsyncIterator[Record]:
        name = self._prefix + topic.name
        parts = self.log.partitions(name)
        ends = [len(records) for records in parts]
        for p, records in enumerate(parts):
            if partitions is not None and p not in partitions:
                continue
            for offset in range(self.log.offset_for_time(name, p, since_ms), ends[p]):
                yield records[offset]

    async def ready(self) -> tuple[bool, str]:
        return True, "embedded log"

    async def offsets(self, stages: Sequence[str]) -> list[Offsets]:
        """Committed and end offsets of the stages running here (consumer lag)."""
        out = []
        for g in self._groups:
            stage = g.stage
            if stage not in stages:
                continue
            for topic in g.topics:
                for p, records in enumerate(self.log.partitions(topic)):
                    out.append(Offsets(stage, topic, p, self.log.committed(g.group, topic, p),
                                       len(records)))
        return out
