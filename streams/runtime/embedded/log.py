"""The embedded log: partitions of offset-numbered records, consumer offsets, retention.

In memory only, or durable: then every record and every committed offset also goes to a
:class:`LogFile`, an append is acknowledged once it is on disk, and memory holds only the
newest records of each partition (``cache_bytes`` in all); older ones are read back from
the file. A restart on the same file finds every partition's offsets and every group's
committed offsets where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Collection, Generator, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from kernel.errors import LogUnavailable
from streams.runtime.base import Headers, Record
from streams.runtime.embedded.logfile import LogFile, Stored
from streams.runtime.embedded.partition import Partition, size_of
from streams.runtime.retention import Retention

__all__ = ("EmbeddedLog", "partition_for")

log = logging.getLogger(__name__)

READ_BATCH = 256


def partition_for(key: bytes | None, partitions: int, counter: int) -> int:
    if key is None:
        return counter % partitions
    return zlib.crc32(key) % partitions


class EmbeddedLog:
    """Append-only partitions per topic, with committed offsets per consumer group.

    ``path``: the file that makes it durable (None: memory only). ``retention``: by
    topic name (absent: kept forever). ``light``: topics whose appends are acknowledged
    without waiting for an fsync (token events: a restarted answer is regenerated).
    """

    def __init__(self, partitions: int, *, path: Path | None = None,
                 retention: Mapping[str, Retention] | None = None,
                 light: Collection[str] = (), cache_bytes: int = 16 << 20,
                 cache_s: float = 30.0) -> None:
        self._partitions = partitions
        self._parts: dict[str, list[Partition]] = {}
        self._appended: dict[str, int] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._counter = 0
        self._retention = dict(retention or {})
        self._light = frozenset(light)
        self._cache_bytes = cache_bytes
        # Readers keep up with the head, so what they read is seconds old: older records
        # stay on disk only, and the cache stops growing within cache_s instead of
        # filling its byte budget over the half hour a quiet partition takes to fill it.
        self._cache_ms = int(cache_s * 1000)
        self._file = LogFile(path, self._flushed, self._failed) if path is not None else None
        self._stored: dict[tuple[str, int], Stored] = {}
        self._opened = False
        self._unflushed: deque[tuple[int, Partition, int]] = deque()
        self._acks: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ack_ids = itertools.count()
        self._flushed_seq = 0

    @property
    def durable(self) -> bool:
        return self._file is not None

    async def open(self) -> None:
        """Load the file's partitions and committed offsets (once; no-op in memory)."""
        if self._opened:
            return
        self._opened = True
        if self._file is not None:
            self._stored, self._committed = await self._file.open()
            for name in self._file.topic_ids:
                self.partitions(name)

    async def close(self) -> None:
        """Write what is queued and close the file."""
        if self._file is not None and self._opened:
            await self._file.close()

    def partitions(self, topic: str) -> list[Partition]:
        parts = self._parts.get(topic)
        if parts is None:
            count = self._partitions
            if self._file is not None:
                count = self._file.topic_partitions.get(topic, count)
                self._file.register(topic, count)
            parts = self._parts[topic] = []
            for p in range(count):
                s = self._stored.get((topic, p))
                part = Partition(topic, p, s.start, s.end, s.size) if s else Partition(topic, p)
                part.last_ts = s.last_ts if s else 0
                parts.append(part)
            self._appended[topic] = 0
        return parts

    # -- writing -------------------------------------------------------------------

    def append_nowait(self, topic: str, key: bytes | None, value: bytes,
                      headers: Headers = (), partition: int | None = None,
                      ) -> tuple[Record, Awaitable[None]]:
        """Append now (readers see it at once); the awaitable resolves once it is
        acknowledged: on disk for a durable log (fsynced unless the topic is light).
        ``partition``, when the topic has it, overrides the key's."""
        parts = self.partitions(topic)
        self._counter += 1
        if partition is None or not 0 <= partition < len(parts):
            partition = partition_for(key, len(parts), self._counter)
        part = parts[partition]
        record = Record(topic, part.index, part.end, key, value,
                        part.timestamp(int(time.time() * 1000)), headers)
        part.add(record)
        self._appended[topic] += 1
        wakeup = self._wakeups.pop(topic, None)
        if wakeup is not None:
            wakeup.set()
        if self._file is None:
            part.durable_end = part.end
            return record, _DONE
        seq = self._file.put_record(self._file.topic_ids[topic], part.index, record,
                                    durable=topic not in self._light)
        self._unflushed.append((seq, part, record.offset))
        return record, self._acked(seq)

    async def append(self, topic: str, key: bytes | None, value: bytes,
                     headers: Headers = (), partition: int | None = None) -> Record:
        record, acked = self.append_nowait(topic, key, value, headers, partition)
        await acked
        return record

    def _acked(self, seq: int) -> Awaitable[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seq <= self._flushed_seq:
            fut.set_result(None)
        else:
            heapq.heappush(self._acks, (seq, next(self._ack_ids), fut))
        return fut

    def _flushed(self, seq: int) -> None:
        """On the loop: everything written up to ``seq`` is on disk."""
        self._flushed_seq = seq
        while self._acks and self._acks[0][0] <= seq:
            fut = heapq.heappop(self._acks)[2]
            if not fut.done():
                fut.set_result(None)
        touched: set[Partition] = set()
        while self._unflushed and self._unflushed[0][0] <= seq:
            _, part, offset = self._unflushed.popleft()
            part.durable_end = max(part.durable_end, offset + 1)
            touched.add(part)
        budget = self._cache_bytes // max(1, sum(len(p) for p in self._parts.values()))
        before = int(time.time() * 1000) - self._cache_ms
        for part in touched:
            part.evict(budget, before)

    def _failed(self, exc: Exception) -> None:
        """On the loop: a group could not be written (it is retried): whoever waits for
        an acknowledgement is told the log is unavailable rather than left hanging."""
        waiting, self._acks = self._acks, []
        for _, _, fut in waiting:
            if not fut.done():
                fut.set_exception(LogUnavailable(f"the embedded log cannot write: {exc}"))

    def committed(self, group: str, topic: str, partition: int) -> int:
        return self._committed.get((group, topic, partition), 0)

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        self._committed[(group, topic, partition)] = offset
        if self._file is not None:
            self._file.put_commit(group, topic, partition, offset)

    async def state_store(self, group: str) -> MutableMapping[str, Any]:
        """A consumer group's keyed state: a dict, written through to the file (in the
        same group commits as the group's offsets) when the log is durable."""
        if self._file is None:
            return {}
        stored = await self._file.load_state(group)
        return _StateStore(self._file, group, {k: json.loads(v) for k, v in stored.items()})

    # -- reading -------------------------------------------------------------------

    def appended(self, topic: str) -> int:
        """How many records were appended to ``topic`` since this process started: a
        reader that saw this number unchanged has missed nothing."""
        self.partitions(topic)
        return self._appended[topic]

    async def wait(self, topic: str, timeout_s: float, seen: int | None = None) -> None:
        """Until something is appended to ``topic`` (after ``seen`` appends), or timeout."""
        if seen is not None and self.appended(topic) != seen:
            return
        wakeup = self._wakeups.get(topic)
        if wakeup is None:
            wakeup = self._wakeups[topic] = asyncio.Event()
        # asyncio.timeout, not wait_for: no Task per wait (every reader waits here).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await wakeup.wait()

    async def read(self, topic: str, partition: int, offset: int,
                   limit: int = READ_BATCH) -> list[Record]:
        """Up to ``limit`` records from ``offset`` on. An offset below the partition's
        start (gone with retention) reads from the earliest record still there, as a
        Kafka consumer reset to ``earliest`` does; the first record's offset tells."""
        part = self.partitions(topic)[partition]
        while True:
            offset = max(offset, part.start)
            first_cached = part.cache_start
            if offset >= first_cached or self._file is None:
                return part.cached(offset, limit)
            got = await self._file.read(topic, self._file.topic_ids[topic], partition,
                                        offset, first_cached, limit)
            if got:
                return got
            offset = first_cached  # that range was deleted meanwhile

    async def offset_for_time(self, topic: str, partition: int, since_ms: int) -> int:
        part = self.partitions(topic)[partition]
        found = part.cached_offset_at(since_ms)
        if found is not None or self._file is None:
            return part.end if found is None else found
        at = await self._file.first_at(self._file.topic_ids[topic], partition, part.start,
                                       part.cache_start, since_ms)
        return at

    # -- retention -----------------------------------------------------------------

    async def enforce_retention(self, now_ms: int | None = None) -> int:
        """Drop what each topic's retention no longer keeps; returns the records dropped."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        dropped = 0
        for topic, parts in list(self._parts.items()):
            rule = self._retention.get(topic)
            if rule is None:
                continue
            for part in parts:
                before = part.start
                if rule.compacted:
                    await self._compact(part)
                    continue
                if rule.ms >= 0:
                    cut = await self.offset_for_time(topic, part.index, now - rule.ms)
                    if cut > part.start:
                        self._drop(part, cut, await self._bytes(part, part.start, cut))
                if rule.bytes >= 0 and part.size > rule.bytes:
                    cut, freed = await self._offset_keeping(part, part.size - rule.bytes)
                    self._drop(part, cut, freed)
                dropped += part.start - before
        return dropped

    def _drop(self, part: Partition, below: int, freed: int) -> None:
        if below <= part.start:
            return
        log.info("retention: %s[%d] drops offsets %d..%d", part.topic, part.index,
                 part.start, below - 1)
        part.drop_below(below, freed)
        if self._file is not None:
            self._file.put_delete(self._file.topic_ids[part.topic], part.index, below)

    async def _bytes(self, part: Partition, start: int, below: int) -> int:
        if self._file is None or start >= part.cache_start:
            return sum(size_of(r) for r in part.cached(start, below - start))
        return await self._file.span_bytes(self._file.topic_ids[part.topic], part.index,
                                           start, below)

    async def _offset_keeping(self, part: Partition, excess: int) -> tuple[int, int]:
        if self._file is None or part.cache_start <= part.start:
            return part.cached_offset_keeping(excess)
        return await self._file.offset_keeping(self._file.topic_ids[part.topic], part.index,
                                               part.start, part.end, excess)

    async def _compact(self, part: Partition) -> None:
        part.compact_cache()
        if self._file is None:
            part.size = sum(size_of(r) for r in part)
        else:
            part.size = await self._file.compact(self._file.topic_ids[part.topic],
                                                 part.index, part.durable_end)


class _StateStore(MutableMapping[str, Any]):
    """A stage's state in memory, every write also queued for the log file: what Faust's
    changelogged table is on Kafka. Values must be JSON."""

    def __init__(self, file: LogFile, group: str, loaded: dict[str, Any]) -> None:
        self._data = loaded
        self._file = file
        self._group = group

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._file.put_state(self._group, key, json.dumps(value, separators=(",", ":")))

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._file.put_state(self._group, key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class _Done:
    """An already-resolved acknowledgement (a log with no file), shared by every append."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


_DONE: Awaitable[None] = _Done()
