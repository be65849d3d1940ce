"""Idempotency keys: the first result of a POST, returned again for a repeated key.

Shared by every edge replica through the store, claimed atomically (SQLite's primary
key, Cassandra's lightweight transaction), and forgotten after a day.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from streams.errors import StoreUnavailable

if TYPE_CHECKING:  # the driver is only imported where Cassandra is configured
    from stores.cassandra import CassandraConversationStore

__all__ = ("CassandraIdempotencyStore", "Claim", "IdempotencyStore", "SQLiteIdempotencyStore")

TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class Claim:
    """What an earlier request with the same key left: its body's fingerprint and result."""

    fingerprint: str
    response: str


class IdempotencyStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def claim(self, tenant_id: str, key: str, fingerprint: str,
                    response: str) -> Claim | None:
        """Record ``response`` for ``key`` unless the key is taken; ``None`` when this
        call took it, else what the first caller recorded."""
        ...

    async def release(self, tenant_id: str, key: str) -> None:
        """Forget a claim whose request could not be completed, so a retry can proceed."""
        ...


class SQLiteIdempotencyStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-idem")

    async def _run(self, fn: Any) -> Any:
        def call() -> Any:
            if self._conn is None:
                raise StoreUnavailable("sqlite idempotency store is not open")
            with self._conn:
                return fn(self._conn)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def start(self) -> None:
        def open_() -> None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("CREATE TABLE IF NOT EXISTS idempotency_keys (tenant_id TEXT, key TEXT,"
                         " fingerprint TEXT, response TEXT, expires REAL,"
                         " PRIMARY KEY (tenant_id, key))")
            self._conn = conn
        await asyncio.get_running_loop().run_in_executor(self._pool, open_)

    async def close(self) -> None:
        def close_() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        await asyncio.get_running_loop().run_in_executor(self._pool, close_)
        self._pool.shutdown(wait=True)

    async def claim(self, tenant_id: str, key: str, fingerprint: str,
                    response: str) -> Claim | None:
        def run(db: sqlite3.Connection) -> Claim | None:
            now = time.time()
            db.execute("DELETE FROM idempotency_keys WHERE tenant_id=? AND key=? AND expires<?",
                       (tenant_id, key, now))
            cur = db.execute("INSERT OR IGNORE INTO idempotency_keys VALUES (?,?,?,?,?)",
                             (tenant_id, key, fingerprint, response, now + TTL_S))
            if cur.rowcount == 1:
                return None
            row = db.execute("SELECT fingerprint, response FROM idempotency_keys WHERE "
                             "tenant_id=? AND key=?", (tenant_id, key)).fetchone()
            return Claim(row[0], row[1])
        result: Claim | None = await self._run(run)
        return result

    async def release(self, tenant_id: str, key: str) -> None:
        await self._run(lambda db: db.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id=? AND key=?", (tenant_id, key)))


class CassandraIdempotencyStore:
    """Shares the conversation store's session and keyspace."""

    def __init__(self, conversations: CassandraConversationStore) -> None:
        self._db = conversations
        self._insert: Any = None
        self._delete: Any = None

    async def start(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS idempotency_keys (tenant_id text, key text, "
            "fingerprint text, response text, PRIMARY KEY ((tenant_id, key)))")
        self._insert = await self._db.prepare(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response) "
            f"VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL {TTL_S}", idempotent=False)
        self._delete = await self._db.prepare(
            "DELETE FROM idempotency_keys WHERE tenant_id=? AND key=?")

    async def close(self) -> None:
        return None  # the conversation store owns the session

    async def claim(self, tenant_id: str, key: str, fingerprint: str,
                    response: str) -> Claim | None:
        rows = await self._db.execute(self._insert, (tenant_id, key, fingerprint, response))
        if not rows or rows[0]["[applied]"]:
            return None
        return Claim(rows[0]["fingerprint"], rows[0]["response"])

    async def release(self, tenant_id: str, key: str) -> None:
        await self._db.execute(self._delete, (tenant_id, key))
