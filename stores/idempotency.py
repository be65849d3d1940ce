"""Idempotency keys: the first result of a POST, returned again for a repeated key.

Shared by every edge replica through the store, claimed atomically (SQLite's primary
key, Cassandra's lightweight transaction), and forgotten after a day (Cassandra's TTL,
a periodic delete on SQLite).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stores.purge import PeriodicPurge
from stores.sqlite_thread import SQLiteThread

if TYPE_CHECKING:  # the driver is only imported where Cassandra is configured
    from stores.cassandra import CassandraSession

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


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (tenant_id TEXT, key TEXT, fingerprint TEXT,
    response TEXT, expires REAL, PRIMARY KEY (tenant_id, key));
"""


class SQLiteIdempotencyStore:
    def __init__(self, path: Path) -> None:
        self._db = SQLiteThread(path, _SQLITE_SCHEMA, name="sqlite idempotency store",
                                thread_name="sqlite-idem",
                                pragmas=("journal_mode=WAL", "busy_timeout=5000"))
        self._purge = PeriodicPurge("idempotency keys", self.purge_expired)

    async def start(self) -> None:
        await self._db.start()
        self._purge.start()

    async def close(self) -> None:
        await self._purge.stop()
        await self._db.close()

    async def purge_expired(self) -> int:
        """Delete the keys past their day; the number deleted."""
        cur = await self._db.run(lambda db: db.execute(
            "DELETE FROM idempotency_keys WHERE expires<?", (time.time(),)))
        return int(cur.rowcount)

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
        return await self._db.run(run)

    async def release(self, tenant_id: str, key: str) -> None:
        await self._db.run(lambda db: db.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id=? AND key=?", (tenant_id, key)))


class CassandraIdempotencyStore:
    """Shares the conversation store's session and keyspace."""

    def __init__(self, session: CassandraSession) -> None:
        self._db = session
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
