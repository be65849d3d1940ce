"""SQLite assistant store, in the deployment's database file."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.assistants import AssistantSpec
from stores.assistants.base import AssistantVersion, Pin
from stores.sqlite_thread import SQLiteThread

__all__ = ("SQLiteAssistantStore",)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assistant_versions (
    tenant_id TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    archived INTEGER NOT NULL, author_id TEXT NOT NULL, created_at TEXT NOT NULL,
    spec TEXT NOT NULL, PRIMARY KEY (tenant_id, name, version));
CREATE TABLE IF NOT EXISTS conversation_assistants (
    tenant_id TEXT NOT NULL, conversation_id TEXT NOT NULL, name TEXT NOT NULL,
    version INTEGER NOT NULL, PRIMARY KEY (tenant_id, conversation_id));
"""
_COLUMNS = "tenant_id, name, version, archived, author_id, created_at, spec"


def _version(row: Any) -> AssistantVersion:
    return AssistantVersion(row[0], row[1], row[2], bool(row[3]), row[4],
                            datetime.fromisoformat(row[5]),
                            AssistantSpec.model_validate_json(row[6]))


class SQLiteAssistantStore:
    """Satisfies ``AssistantStore``."""

    def __init__(self, path: Path) -> None:
        self._db = SQLiteThread(path, _SCHEMA, name="sqlite assistant store",
                                thread_name="sqlite-assistants", timeout=10.0)

    async def start(self) -> None:
        await self._db.start()

    async def close(self) -> None:
        await self._db.close()

    async def add_version(self, version: AssistantVersion) -> bool:
        v = version
        return bool(await self._db.run(lambda db: db.execute(
            f"INSERT OR IGNORE INTO assistant_versions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
            (v.tenant_id, v.name, v.version, int(v.archived), v.author_id,
             v.created_at.isoformat(), v.spec.model_dump_json())).rowcount))

    async def get_version(self, tenant_id: str, name: str, version: int
                          ) -> AssistantVersion | None:
        row = await self._db.run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM assistant_versions WHERE tenant_id=? AND name=? "
            "AND version=?", (tenant_id, name, version)).fetchone())
        return _version(row) if row else None

    async def latest(self, tenant_id: str, name: str) -> AssistantVersion | None:
        found = await self.versions(tenant_id, name, 1)
        return found[0] if found else None

    async def list_latest(self, tenant_id: str) -> list[AssistantVersion]:
        def read(db: sqlite3.Connection) -> list[Any]:
            return db.execute(
                f"SELECT {_COLUMNS} FROM assistant_versions v WHERE tenant_id=? AND "
                "version = (SELECT max(version) FROM assistant_versions WHERE "
                "tenant_id=v.tenant_id AND name=v.name) ORDER BY name",
                (tenant_id,)).fetchall()
        return [_version(r) for r in await self._db.run(read)]

    async def versions(self, tenant_id: str, name: str, limit: int = 100
                       ) -> list[AssistantVersion]:
        rows = await self._db.run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM assistant_versions WHERE tenant_id=? AND name=? "
            "ORDER BY version DESC LIMIT ?", (tenant_id, name, limit)).fetchall())
        return [_version(r) for r in rows]

    async def set_pin(self, pin: Pin) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT OR REPLACE INTO conversation_assistants VALUES (?,?,?,?)",
            (pin.tenant_id, pin.conversation_id, pin.name, pin.version)))

    async def get_pin(self, tenant_id: str, conversation_id: str) -> Pin | None:
        row = await self._db.run(lambda db: db.execute(
            "SELECT name, version FROM conversation_assistants WHERE tenant_id=? AND "
            "conversation_id=?", (tenant_id, conversation_id)).fetchone())
        return Pin(tenant_id, conversation_id, row[0], row[1]) if row else None
