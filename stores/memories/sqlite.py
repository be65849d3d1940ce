"""SQLite memory store, in the deployment's database file."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from stores.memories.base import MAX_MEMORIES, Memory, MemorySettings
from stores.sqlite_thread import SQLiteThread

__all__ = ("SQLiteMemoryStore",)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, origin TEXT NOT NULL,
    source_conversation_id TEXT, source_message_id TEXT,
    PRIMARY KEY (tenant_id, user_id, id));
CREATE TABLE IF NOT EXISTS memory_settings (
    tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, off INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id));
"""
_COLUMNS = ("tenant_id, user_id, id, text, created_at, updated_at, origin, "
            "source_conversation_id, source_message_id")


def _memory(r: Any) -> Memory:
    return Memory(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]),
                  datetime.fromisoformat(r[5]), r[6], r[7], r[8])


class SQLiteMemoryStore:
    """Satisfies ``MemoryStore``. The settings row with user ``""`` is the tenant's."""

    def __init__(self, path: Path) -> None:
        self._db = SQLiteThread(path, _SCHEMA, name="sqlite memory store",
                                thread_name="sqlite-memories", timeout=10.0)

    async def start(self) -> None:
        await self._db.start()

    async def close(self) -> None:
        await self._db.close()

    async def add(self, memory: Memory) -> None:
        m = memory
        await self._db.run(lambda db: db.execute(
            f"INSERT OR IGNORE INTO memories ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (m.tenant_id, m.user_id, m.id, m.text, m.created_at.isoformat(),
             m.updated_at.isoformat(), m.origin, m.source_conversation_id,
             m.source_message_id)))

    async def get(self, tenant_id: str, user_id: str, memory_id: str) -> Memory | None:
        row = await self._db.run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM memories WHERE tenant_id=? AND user_id=? AND id=?",
            (tenant_id, user_id, memory_id)).fetchone())
        return _memory(row) if row else None

    async def list_memories(self, tenant_id: str, user_id: str,
                            limit: int = MAX_MEMORIES) -> list[Memory]:
        rows = await self._db.run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM memories WHERE tenant_id=? AND user_id=? "
            "ORDER BY created_at DESC, id LIMIT ?", (tenant_id, user_id, limit)).fetchall())
        return [_memory(r) for r in rows]

    async def update(self, tenant_id: str, user_id: str, memory_id: str, text: str,
                     at: datetime) -> bool:
        return bool(await self._db.run(lambda db: db.execute(
            "UPDATE memories SET text=?, updated_at=? WHERE tenant_id=? AND user_id=? AND "
            "id=?", (text, at.isoformat(), tenant_id, user_id, memory_id)).rowcount))

    async def delete(self, tenant_id: str, user_id: str, memory_id: str) -> bool:
        return bool(await self._db.run(lambda db: db.execute(
            "DELETE FROM memories WHERE tenant_id=? AND user_id=? AND id=?",
            (tenant_id, user_id, memory_id)).rowcount))

    async def settings(self, tenant_id: str, user_id: str) -> MemorySettings:
        def read(db: sqlite3.Connection) -> dict[str, int]:
            return dict(db.execute(
                "SELECT user_id, off FROM memory_settings WHERE tenant_id=? AND "
                "user_id IN ('', ?)", (tenant_id, user_id)).fetchall())
        found = await self._db.run(read)
        return MemorySettings(tenant_enabled=not found.get("", 0),
                              user_paused=bool(found.get(user_id, 0)) if user_id else False)

    async def set_paused(self, tenant_id: str, user_id: str, paused: bool) -> None:
        await self._set(tenant_id, user_id, paused)

    async def set_tenant_enabled(self, tenant_id: str, enabled: bool) -> None:
        await self._set(tenant_id, "", not enabled)

    async def _set(self, tenant_id: str, user_id: str, off: bool) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT OR REPLACE INTO memory_settings VALUES (?,?,?)",
            (tenant_id, user_id, int(off))))
