"""One partition of the embedded log: its offsets, its size, and its newest records in memory."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from streams.runtime.base import Record

__all__ = ("RECORD_OVERHEAD", "Partition", "size_of")

# Python's own cost of a cached record beyond its key and value (the Record, the two bytes
# objects, the ints, the list slot), measured by bench/log_append.py; counted against
# the cache budget so the budget is close to the memory it really takes.
RECORD_OVERHEAD = 220


def size_of(record: Record) -> int:
    """The bytes of a record retention counts: its key and value, as Kafka's size does."""
    return len(record.value) + (len(record.key) if record.key is not None else 0)


class Partition:
    """Offsets ``start`` (the earliest still retained) to ``end`` (the next to write);
    records below ``durable_end`` are on disk. The cache holds the newest records, all
    of them when the log has no file; it never drops one that is not on disk yet."""

    def __init__(self, topic: str, index: int, start: int = 0, end: int = 0,
                 size: int = 0) -> None:
        self.topic = topic
        self.index = index
        self.start = start
        self.end = end
        self.durable_end = end
        self.size = size  # bytes of the retained records (key + value)
        self.last_ts = 0
        self._cache: list[Record] = []
        self._head = 0  # records before it were dropped; the list is trimmed now and then
        self.cached_bytes = 0

    def __len__(self) -> int:
        return self.end

    def __iter__(self) -> Iterator[Record]:
        """The records held in memory (every retained one when the log has no file)."""
        return iter(self._cache[self._head:])

    @property
    def cache_start(self) -> int:
        """The first offset held in memory: reads below it go to the file."""
        return self._cache[self._head].offset if self._head < len(self._cache) else self.end

    def timestamp(self, now_ms: int) -> int:
        # Never earlier than the record before, so a time maps to one offset.
        self.last_ts = max(self.last_ts, now_ms)
        return self.last_ts

    def add(self, record: Record) -> None:
        size = size_of(record)
        self._cache.append(record)
        self.cached_bytes += size + RECORD_OVERHEAD
        self.size += size
        self.end = record.offset + 1

    def cached(self, offset: int, limit: int) -> list[Record]:
        i = bisect.bisect_left(self._cache, offset, lo=self._head, key=lambda r: r.offset)
        return self._cache[i:i + limit]

    def cached_offset_at(self, since_ms: int) -> int | None:
        """The first cached offset at ``since_ms`` or later; None when the cache starts
        after that time (the answer is in the file)."""
        if self._head >= len(self._cache):
            return self.end if self.start >= self.end or self.last_ts < since_ms else None
        if self._cache[self._head].timestamp_ms > since_ms and self.cache_start > self.start:
            return None
        i = bisect.bisect_left(self._cache, since_ms, lo=self._head,
                               key=lambda r: r.timestamp_ms)
        return self._cache[i].offset if i < len(self._cache) else self.end

    def cached_offset_keeping(self, excess: int) -> tuple[int, int]:
        """The offset from which the cached records hold ``excess`` bytes fewer, and
        the bytes freed (whole records)."""
        freed, offset = 0, self.start
        for i in range(self._head, len(self._cache)):
            if freed >= excess:
                break
            record = self._cache[i]
            freed += size_of(record)
            offset = record.offset + 1
        return offset, freed

    def evict(self, budget: int, before_ms: int = -1) -> None:
        """Drop the oldest cached records that are on disk until the cache fits ``budget``
        and holds nothing written before ``before_ms``."""
        cache, head = self._cache, self._head
        while (head < len(cache) and cache[head].offset < self.durable_end
               and (self.cached_bytes > budget or cache[head].timestamp_ms < before_ms)):
            self.cached_bytes -= size_of(cache[head]) + RECORD_OVERHEAD
            head += 1
        self._head = head
        self._trim()

    def drop_below(self, offset: int, freed: int) -> None:
        """Retention: records below ``offset`` are gone (``freed`` bytes of them)."""
        if offset <= self.start:
            return
        self.start = min(offset, self.end)
        self.size = max(0, self.size - freed)
        cache, head = self._cache, self._head
        while head < len(cache) and cache[head].offset < offset:
            self.cached_bytes -= size_of(cache[head]) + RECORD_OVERHEAD
            head += 1
        self._head = head
        self._trim()

    def compact_cache(self) -> None:
        """Keep only the newest cached record of each key (a compacted topic)."""
        live = self._cache[self._head:]
        newest = {r.key: r.offset for r in live if r.key is not None}
        kept = [r for r in live if r.key is None or newest[r.key] == r.offset]
        self._cache, self._head = kept, 0
        self.cached_bytes = sum(size_of(r) + RECORD_OVERHEAD for r in kept)

    def _trim(self) -> None:
        # Dropping from the front of a list is O(n): do it in bulk, once half is dead. Not
        # later: the dead entries still hold their records (on a partition taking a record
        # every few seconds, a threshold of 1,024 kept an hour of them alive, unaccounted).
        if self._head >= 32 and self._head * 2 > len(self._cache):
            del self._cache[:self._head]
            self._head = 0
