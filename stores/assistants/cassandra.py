"""Cassandra assistant store, in the conversation store's keyspace over its session.

A version is written with ``IF NOT EXISTS`` (a lightweight transaction): one writer wins
each number. The tenant's names are a partition of their own, listed without a scan.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kernel.errors import StoreUnavailable
from schemas.assistants import AssistantSpec
from stores.assistants.base import MAX_ASSISTANTS, AssistantVersion, Pin
from stores.cassandra import CassandraSession
from stores.timestamps import from_us, to_us

__all__ = ("CassandraAssistantStore",)

_TABLES = (
    """CREATE TABLE IF NOT EXISTS assistant_versions (
        tenant_id text, name text, version int, archived boolean, author_id text,
        created_us bigint, spec text, PRIMARY KEY ((tenant_id, name), version))
        WITH CLUSTERING ORDER BY (version DESC)""",
    """CREATE TABLE IF NOT EXISTS assistants_by_tenant (
        tenant_id text, name text, PRIMARY KEY ((tenant_id), name))""",
    """CREATE TABLE IF NOT EXISTS conversation_assistants (
        tenant_id text, conversation_id text, name text, version int,
        PRIMARY KEY ((tenant_id, conversation_id)))""",
)
_COLUMNS = "tenant_id, name, version, archived, author_id, created_us, spec"


@dataclass(frozen=True, slots=True)
class _Statements:
    insert: Any
    insert_name: Any
    select: Any
    select_versions: Any
    select_names: Any
    set_pin: Any
    get_pin: Any


def _version(r: dict[str, Any]) -> AssistantVersion:
    return AssistantVersion(r["tenant_id"], r["name"], r["version"], bool(r["archived"]),
                            r["author_id"], from_us(r["created_us"]),
                            AssistantSpec.model_validate_json(r["spec"]))


class CassandraAssistantStore:
    """Satisfies ``AssistantStore``."""

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
            insert=await p(f"INSERT INTO assistant_versions ({_COLUMNS}) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS", idempotent=False),
            insert_name=await p("INSERT INTO assistants_by_tenant (tenant_id, name) "
                                "VALUES (?, ?)"),
            select=await p(f"SELECT {_COLUMNS} FROM assistant_versions WHERE tenant_id = ? "
                           "AND name = ? AND version = ?"),
            select_versions=await p(f"SELECT {_COLUMNS} FROM assistant_versions WHERE "
                                    "tenant_id = ? AND name = ? LIMIT ?"),
            select_names=await p("SELECT name FROM assistants_by_tenant WHERE tenant_id = ? "
                                 "LIMIT ?"),
            set_pin=await p("INSERT INTO conversation_assistants (tenant_id, "
                            "conversation_id, name, version) VALUES (?, ?, ?, ?)"),
            get_pin=await p("SELECT name, version FROM conversation_assistants WHERE "
                            "tenant_id = ? AND conversation_id = ?"),
        )

    async def close(self) -> None:
        self._st = None  # the session belongs to the conversation store

    def _prepared(self) -> _Statements:
        if self._st is None:
            raise StoreUnavailable("cassandra assistant store is not started")
        return self._st

    async def add_version(self, version: AssistantVersion) -> bool:
        v, st = version, self._prepared()
        # The name first: a version is never listed-less, and writing it twice is harmless.
        await self._db.execute(st.insert_name, (v.tenant_id, v.name))
        spec = v.spec.model_dump_json()
        try:
            rows = await self._db.execute(st.insert, (
                v.tenant_id, v.name, v.version, v.archived, v.author_id,
                to_us(v.created_at), spec))
        except StoreUnavailable:
            # A transaction that timed out may have been applied: the row says whose it is.
            found = await self.get_version(v.tenant_id, v.name, v.version)
            if found is None:
                raise
            return found.author_id == v.author_id and found.created_at == v.created_at \
                and found.spec == v.spec
        return bool(rows and rows[0]["[applied]"])

    async def get_version(self, tenant_id: str, name: str, version: int
                          ) -> AssistantVersion | None:
        rows = await self._db.execute(self._prepared().select, (tenant_id, name, version))
        return _version(rows[0]) if rows else None

    async def latest(self, tenant_id: str, name: str) -> AssistantVersion | None:
        found = await self.versions(tenant_id, name, 1)
        return found[0] if found else None

    async def list_latest(self, tenant_id: str) -> list[AssistantVersion]:
        names = [r["name"] for r in await self._db.execute(
            self._prepared().select_names, (tenant_id, MAX_ASSISTANTS))]
        found = await asyncio.gather(*(self.latest(tenant_id, n) for n in names))
        return [v for v in found if v is not None]

    async def versions(self, tenant_id: str, name: str, limit: int = 100
                       ) -> list[AssistantVersion]:
        rows = await self._db.execute(self._prepared().select_versions,
                                      (tenant_id, name, max(1, limit)))
        return [_version(r) for r in rows]

    async def set_pin(self, pin: Pin) -> None:
        await self._db.execute(self._prepared().set_pin, (
            pin.tenant_id, pin.conversation_id, pin.name, pin.version))

    async def get_pin(self, tenant_id: str, conversation_id: str) -> Pin | None:
        rows = await self._db.execute(self._prepared().get_pin, (tenant_id, conversation_id))
        return Pin(tenant_id, conversation_id, rows[0]["name"], rows[0]["version"]) \
            if rows else None
