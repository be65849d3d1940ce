"""The embedded log on disk: one SQLite file in WAL mode, written by one thread in groups.

Why SQLite and not a segment file per partition: a transaction makes a group of appends
and the consumer offsets committed with them atomic, so after a crash the file holds an
exact prefix of what was written (no torn tail to scan for, no index to rebuild); the
rowid is the (topic, partition, offset) triple packed in 63 bits, so a record is one
B-tree leaf entry, reads of a range are one index walk, and retention is one range
``DELETE``. The measured cost per append is in docs/benchmarks.md.

Every append goes to a queue; the writer thread takes everything queued since its last
transaction and writes it as one (group commit). A group that holds a record of a
durable topic is committed with ``synchronous=FULL`` (the WAL is fsynced before the
group is acknowledged); a group of only light records (token events) and offsets with
``synchronous=NORMAL``: it survives the process being killed (the OS has it), not a
power cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kernel.errors import ConfigurationError
from streams.runtime.base import Headers, Record

__all__ = ("LogFile", "Stored", "record_id")

log = logging.getLogger(__name__)

_OFFSET_BITS = 40
_PARTITION_BITS = 10
MAX_TOPICS = 1 << (63 - _OFFSET_BITS - _PARTITION_BITS)

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers BLOB);
CREATE TABLE IF NOT EXISTS committed (
    grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, part)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (grp, key)) WITHOUT ROWID;
"""


def record_id(topic_id: int, partition: int, offset: int) -> int:
    return (((topic_id << _PARTITION_BITS) | partition) << _OFFSET_BITS) | offset


def _encode_headers(headers: Headers) -> bytes | None:
    if not headers:
        return None
    return json.dumps([[k, v.decode("latin-1")] for k, v in headers]).encode()


def _decode_headers(raw: bytes | None) -> Headers:
    if not raw:
        return ()
    return tuple((k, v.encode("latin-1")) for k, v in json.loads(raw))


@dataclass(frozen=True)
class Stored:
    """What the file holds of one partition when it is opened."""

    start: int
    end: int
    size: int
    last_ts: int


@dataclass
class _Group:
    rows: list[tuple[int, int, bytes | None, bytes, bytes | None]]
    commits: dict[tuple[str, str, int], int]
    deletes: list[tuple[int, int]]
    state: dict[tuple[str, str], str | None]
    durable: bool
    seq: int


class LogFile:
    """The SQLite file behind a durable embedded log. ``open`` (on the event loop's
    thread) loads what the file holds; ``put_*`` queue work for the writer thread and
    return at once; ``read`` and ``first_at`` run on a reader thread of their own, so
    reads never wait for a write. ``on_flushed(seq)`` is called on the event loop with
    the sequence number of the last write of each group once it is committed;
    ``on_failed(exc)`` when a group could not be written (it is retried)."""

    def __init__(self, path: Path, on_flushed: Callable[[int], None],
                 on_failed: Callable[[Exception], None]) -> None:
        self.path = path
        self._on_flushed = on_flushed
        self._on_failed = on_failed
        self._lock = threading.Condition()
        self._rows: list[tuple[int, int, bytes | None, bytes, bytes | None]] = []
        self._commits: dict[tuple[str, str, int], int] = {}
        self._deletes: list[tuple[int, int]] = []
        self._state: dict[tuple[str, str], str | None] = {}
        self._durable = False
        self._seq = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-reader")
        self._rconn: sqlite3.Connection | None = None
        self._held: IO[str] | None = None
        self.topic_ids: dict[str, int] = {}
        self.topic_partitions: dict[str, int] = {}

    # -- opening -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=True,
                               isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    async def open(self) -> tuple[dict[tuple[str, int], Stored],
                                  dict[tuple[str, str, int], int]]:
        """Load every partition's offsets and every committed offset, then start the
        writer thread."""
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file()
        stored, commits = await self._loop.run_in_executor(self._reader, self._load)
        self._thread = threading.Thread(target=self._write_loop, name="log-writer",
                                        daemon=True)
        self._thread.start()
        return stored, commits

    def _lock_file(self) -> None:
        # One process per log: a second one would number offsets on its own and overwrite
        # the first one's records. The lock goes with the process, however it ends.
        lock = (self.path.parent / f"{self.path.name}.lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ConfigurationError(f"another chatstream process is using {self.path}; "
                                     "stop it, or give this one its own DATA_DIR") from None
        self._held = lock

    def _load(self) -> tuple[dict[tuple[str, int], Stored], dict[tuple[str, str, int], int]]:
        conn = self._rconn = self._connect()
        conn.executescript(SCHEMA)
        stored: dict[tuple[str, int], Stored] = {}
        for tid, name, partitions in conn.execute("SELECT id, name, partitions FROM topics"):
            self.topic_ids[name] = tid
            self.topic_partitions[name] = partitions
            for p in range(partitions):
                lo, hi = record_id(tid, p, 0), record_id(tid, p + 1, 0)
                first, last, size = conn.execute(
                    "SELECT min(id), max(id), sum(length(value) + ifnull(length(key), 0)) "
                    "FROM records WHERE id >= ? AND id < ?", (lo, hi)).fetchone()
                if first is None:
                    continue
                last_ts = conn.execute("SELECT ts FROM records WHERE id = ?",
                                       (last,)).fetchone()[0]
                stored[(name, p)] = Stored(first - lo, last - lo + 1, size or 0, last_ts)
        commits = {(g, t, p): n for g, t, p, n in
                   conn.execute("SELECT grp, topic, part, next FROM committed")}
        return stored, commits

    def register(self, name: str, partitions: int) -> int:
        """The id of topic ``name``, added to the file (synchronously: once per topic)."""
        tid = self.topic_ids.get(name)
        if tid is not None:
            return tid
        tid = len(self.topic_ids) + 1
        while tid in self.topic_ids.values():
            tid += 1
        if tid >= MAX_TOPICS:
            raise ValueError(f"the embedded log holds at most {MAX_TOPICS - 1} topics")
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            with conn:
                conn.execute("INSERT INTO topics (id, name, partitions) VALUES (?, ?, ?)",
                             (tid, name, partitions))
        finally:
            conn.close()
        self.topic_ids[name] = tid
        self.topic_partitions[name] = partitions
        return tid

    # -- writing -------------------------------------------------------------------

    def put_record(self, tid: int, partition: int, record: Record, durable: bool) -> int:
        with self._lock:
            self._seq += 1
            self._rows.append((record_id(tid, partition, record.offset), record.timestamp_ms,
                               record.key, record.value, _encode_headers(record.headers)))
            self._durable = self._durable or durable
            self._lock.notify()
            return self._seq

    def put_commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            self._commits[(group, topic, partition)] = offset
            self._lock.notify()

    def put_state(self, group: str, key: str, value: str | None) -> None:
        """A stage's keyed state: ``value`` (JSON) for ``key``, or deleted when None."""
        with self._lock:
            self._state[(group, key)] = value
            self._lock.notify()

    def put_delete(self, tid: int, partition: int, below: int) -> None:
        """Delete the partition's records with an offset below ``below``."""
        with self._lock:
            self._deletes.append((record_id(tid, partition, 0), record_id(tid, partition, below)))
            self._lock.notify()

    def _take(self) -> _Group | None:
        with self._lock:
            while not (self._rows or self._commits or self._deletes or self._state
                       or self._closing):
                self._lock.wait()
            if not (self._rows or self._commits or self._deletes or self._state):
                return None
            group = _Group(self._rows, self._commits, self._deletes, self._state,
                           self._durable, self._seq)
            self._rows, self._commits, self._deletes, self._state = [], {}, [], {}
            self._durable = False
            return group

    def _write_loop(self) -> None:
        conn = self._connect()
        sync = "FULL"
        try:
            while (group := self._take()) is not None:
                failures = 0
                while True:
                    try:
                        want = "FULL" if group.durable else "NORMAL"
                        if want != sync:
                            conn.execute(f"PRAGMA synchronous={want}")
                            sync = want
                        self._write(conn, group)
                        break
                    except sqlite3.Error as exc:
                        # Disk full, I/O error: nothing is acknowledged; keep trying.
                        failures += 1
                        log.error("embedded log: writing %d records failed (%s); retrying",
                                  len(group.rows), exc)
                        self._call(self._on_failed, exc)
                        time.sleep(min(5.0, 0.05 * 2 ** failures))
                self._call(self._on_flushed, group.seq)
        finally:
            conn.close()

    @staticmethod
    def _write(conn: sqlite3.Connection, group: _Group) -> None:
        conn.execute("BEGIN")
        try:
            if group.rows:
                conn.executemany("INSERT OR REPLACE INTO records (id, ts, key, value, headers)"
                                 " VALUES (?, ?, ?, ?, ?)", group.rows)
            if group.commits:
                conn.executemany(
                    "INSERT INTO committed (grp, topic, part, next) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (grp, topic, part) DO UPDATE SET next = excluded.next",
                    [(g, t, p, n) for (g, t, p), n in group.commits.items()])
            if group.state:
                conn.executemany(
                    "INSERT INTO state (grp, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value",
                    [(g, k, v) for (g, k), v in group.state.items() if v is not None])
                conn.executemany("DELETE FROM state WHERE grp = ? AND key = ?",
                                 [(g, k) for (g, k), v in group.state.items() if v is None])
            for lo, hi in group.deletes:
                conn.execute("DELETE FROM records WHERE id >= ? AND id < ?", (lo, hi))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _call(self, fn: Callable[..., None], arg: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile, nobody waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(fn, arg)

    async def close(self) -> None:
        """Write what is queued, then stop the threads."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        if self._rconn is not None:
            conn, self._rconn = self._rconn, None
            await asyncio.get_running_loop().run_in_executor(self._reader, conn.close)
        self._reader.shutdown(wait=True)
        if self._held is not None:
            self._held.close()  # releases the lock
            self._held = None

    # -- reading -------------------------------------------------------------------

    async def load_state(self, group: str) -> dict[str, str]:
        def load() -> dict[str, str]:
            assert self._rconn is not None
            return dict(self._rconn.execute("SELECT key, value FROM state WHERE grp = ?",
                                            (group,)).fetchall())
        return await asyncio.get_running_loop().run_in_executor(self._reader, load)

    async def read(self, topic: str, tid: int, partition: int, offset: int, below: int,
                   limit: int) -> list[Record]:
        """Up to ``limit`` records of offsets ``offset`` to ``below`` (excluded)."""
        lo, hi = record_id(tid, partition, offset), record_id(tid, partition, below)
        base = record_id(tid, partition, 0)

        def read() -> list[Record]:
            assert self._rconn is not None
            rows = self._rconn.execute(
                "SELECT id, ts, key, value, headers FROM records WHERE id >= ? AND id < ? "
                "ORDER BY id LIMIT ?", (lo, hi, limit)).fetchall()
            return [Record(topic, partition, rid - base, key, value, ts, _decode_headers(h))
                    for rid, ts, key, value, h in rows]
        return await asyncio.get_running_loop().run_in_executor(self._reader, read)

    async def first_at(self, tid: int, partition: int, start: int, below: int,
                       since_ms: int) -> int:
        """The first offset in [start, below) whose timestamp is ``since_ms`` or later
        (timestamps never decrease within a partition), or ``below``."""
        base = record_id(tid, partition, 0)

        def search() -> int:
            assert self._rconn is not None
            lo, hi = start, below
            while lo < hi:  # binary search, one point read per step
                mid = (lo + hi) // 2
                row = self._rconn.execute(
                    "SELECT id, ts FROM records WHERE id >= ? AND id < ? ORDER BY id LIMIT 1",
                    (base + mid, base + below)).fetchone()
                if row is None or row[1] >= since_ms:
                    hi = mid
                else:
                    lo = row[0] - base + 1
            return lo
        return await asyncio.get_running_loop().run_in_executor(self._reader, search)

    async def compact(self, tid: int, partition: int, below: int) -> int:
        """Delete every record below ``below`` whose key has a newer record (a compacted
        topic keeps the newest value of each key); returns the bytes still stored."""
        lo, hi = record_id(tid, partition, 0), record_id(tid, partition, 1 << _OFFSET_BITS)
        cut = record_id(tid, partition, below)

        def compact() -> int:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                with conn:
                    conn.execute(
                        "DELETE FROM records WHERE id >= ? AND id < ? AND key IS NOT NULL AND "
                        "id NOT IN (SELECT max(id) FROM records WHERE id >= ? AND id < ? "
                        "GROUP BY key)", (lo, cut, lo, hi))
                    size = conn.execute(
                        "SELECT sum(length(value) + ifnull(length(key), 0)) FROM records "
                        "WHERE id >= ? AND id < ?", (lo, hi)).fetchone()[0]
                return int(size or 0)
            finally:
                conn.close()
        return await asyncio.get_running_loop().run_in_executor(self._reader, compact)

    async def offset_keeping(self, tid: int, partition: int, start: int, below: int,
                             excess: int) -> tuple[int, int]:
        """The offset from which the partition's records hold ``excess`` bytes fewer
        than from ``start`` (whole records), and the bytes that frees."""
        base = record_id(tid, partition, 0)

        def walk() -> tuple[int, int]:
            assert self._rconn is not None
            freed, offset = 0, start
            cursor = self._rconn.execute(
                "SELECT id, length(value) + ifnull(length(key), 0) FROM records "
                "WHERE id >= ? AND id < ? ORDER BY id", (base + start, base + below))
            for rid, size in cursor:
                if freed >= excess:
                    break
                freed += size
                offset = rid - base + 1
            cursor.close()
            return offset, freed
        return await asyncio.get_running_loop().run_in_executor(self._reader, walk)

    async def span_bytes(self, tid: int, partition: int, start: int, below: int) -> int:
        """The bytes (keys and values) of the partition's records in [start, below)."""
        lo, hi = record_id(tid, partition, start), record_id(tid, partition, below)

        def total() -> int:
            assert self._rconn is not None
            got = self._rconn.execute(
                "SELECT sum(length(value) + ifnull(length(key), 0)) FROM records "
                "WHERE id >= ? AND id < ?", (lo, hi)).fetchone()[0]
            return int(got or 0)
        return await asyncio.get_running_loop().run_in_executor(self._reader, total)
