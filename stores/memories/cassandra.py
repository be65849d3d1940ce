"""Cassandra memory store, in the conversation store's keyspace over its session: one
partition per user, so a user's memories are listed without a scan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.errors import StoreUnavailable
from stores.cassandra import CassandraSession
from stores.memories.base import MAX_MEMORIES, Memory, MemorySettings
from stores.timestamps import from_us, to_us

__all__ = ("CassandraMemoryStore",)

_TABLES = (
    """CREATE TABLE IF NOT EXISTS memories (
        tenant_id text, user_id text, id text, text text, created_us bigint,
        updated_us bigint, origin text, source_conversation_id text,
        source_message_id text, PRIMARY KEY ((tenant_id, user_id), id))""",
    """CREATE TABLE IF NOT EXISTS memory_settings (
        tenant_id text, user_id text, off boolean, PRIMARY KEY ((tenant_id), user_id))""",
)
_COLUMNS = ("tenant_id, user_id, id, text, created_us, updated_us, origin, "
            "source_conversation_id, source_message_id")


@dataclass(frozen=True, slots=True)
class _Statements:
    insert: Any
    select: Any
    select_all: Any
    update: Any
    delete: Any
    settings: Any
    set_off: Any


def _memory(r: dict[str, Any]) -> Memory:
    return Memory(r["tenant_id"], r["user_id"], r["id"], r["text"], from_us(r["created_us"]),
                  from_us(r["updated_us"]), r["origin"], r["source_conversation_id"],
                  r["source_message_id"])


class CassandraMemoryStore:
    """Satisfies ``MemoryStore``. The settings row with user ``""`` is the tenant's."""

    def __init__(self, session: CassandraSession) -> None:
        self._db = session
        self._st: _Statements | None = None

    async def start(self) -> None:
        if self._st is not None:
            return
        await self._db.start()
        for ddl in _TABLES:
            await self._db.execute(ddl)
        p = self._db.prepare
        self._st = _Statements(
            insert=await p(f"INSERT INTO memories ({_COLUMNS}) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            select=await p(f"SELECT {_COLUMNS} FROM memories WHERE tenant_id = ? AND "
                           "user_id = ? AND id = ?"),
            select_all=await p(f"SELECT {_COLUMNS} FROM memories WHERE tenant_id = ? AND "
                               "user_id = ? LIMIT ?"),
            update=await p("UPDATE memories SET text = ?, updated_us = ? WHERE tenant_id = ? "
                           "AND user_id = ? AND id = ? IF EXISTS", idempotent=False),
            delete=await p("DELETE FROM memories WHERE tenant_id = ? AND user_id = ? AND "
                           "id = ? IF EXISTS", idempotent=False),
            settings=await p("SELECT user_id, off FROM memory_settings WHERE tenant_id = ? "
                             "AND user_id IN ?"),
            set_off=await p("INSERT INTO memory_settings (tenant_id, user_id, off) VALUES "
                            "(?, ?, ?)"),
        )

    async def close(self) -> None:
        self._st = None  # the session belongs to the conversation store

    def _prepared(self) -> _Statements:
        if self._st is None:
            raise StoreUnavailable("cassandra memory store is not started")
        return self._st

    async def add(self, memory: Memory) -> None:
        m = memory
        await self._db.execute(self._prepared().insert, (
            m.tenant_id, m.user_id, m.id, m.text, to_us(m.created_at), to_us(m.updated_at),
            m.origin, m.source_conversation_id, m.source_message_id))

    async def get(self, tenant_id: str, user_id: str, memory_id: str) -> Memory | None:
        rows = await self._db.execute(self._prepared().select, (tenant_id, user_id, memory_id))
        return _memory(rows[0]) if rows else None

    async def list_memories(self, tenant_id: str, user_id: str,
                            limit: int = MAX_MEMORIES) -> list[Memory]:
        rows = await self._db.execute(self._prepared().select_all,
                                      (tenant_id, user_id, max(1, limit)))
        return sorted((_memory(r) for r in rows), key=lambda m: (m.created_at, m.id),
                      reverse=True)

    async def update(self, tenant_id: str, user_id: str, memory_id: str, text: str,
                     at: datetime) -> bool:
        rows = await self._db.execute(self._prepared().update,
                                      (text, to_us(at), tenant_id, user_id, memory_id))
        return bool(rows and rows[0]["[applied]"])

    async def delete(self, tenant_id: str, user_id: str, memory_id: str) -> bool:
        rows = await self._db.execute(self._prepared().delete,
                                      (tenant_id, user_id, memory_id))
        return bool(rows and rows[0]["[applied]"])

    async def settings(self, tenant_id: str, user_id: str) -> MemorySettings:
        rows = await self._db.execute(self._prepared().settings,
                                      (tenant_id, ["", user_id] if user_id else [""]))
        found = {r["user_id"]: bool(r["off"]) for r in rows}
        return MemorySettings(tenant_enabled=not found.get("", False),
                              user_paused=found.get(user_id, False) if user_id else False)

    async def set_paused(self, tenant_id: str, user_id: str, paused: bool) -> None:
        await self._db.execute(self._prepared().set_off, (tenant_id, user_id, paused))

    async def set_tenant_enabled(self, tenant_id: str, enabled: bool) -> None:
        await self._db.execute(self._prepared().set_off, (tenant_id, "", not enabled))
