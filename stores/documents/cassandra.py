"""Cassandra document store: metadata, status and the uploaded bytes in the keyspace of
the conversation store, over their shared session.

The bytes are split into parts of 256 KiB, one row each, in one partition per document:
well under Cassandra's advice for cell sizes, read back in order by any worker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.errors import StoreUnavailable
from schemas.events import utcnow
from schemas.scopes import Scope
from stores.cassandra import CassandraSession
from stores.documents.base import Document, DocumentStatus
from stores.timestamps import from_us, to_us

__all__ = ("BLOB_PART_BYTES", "CassandraDocumentStore")

BLOB_PART_BYTES = 256 * 1024

_TABLES = (
    """CREATE TABLE IF NOT EXISTS documents (
        tenant_id text, document_id text, user_id text, conversation_id text, title text,
        filename text, media_type text, size bigint, status text, chunks_done int,
        chunks_total int, error text, created_us bigint, updated_us bigint,
        PRIMARY KEY ((tenant_id, document_id)))""",
    """CREATE TABLE IF NOT EXISTS documents_by_tenant (
        tenant_id text, created_us bigint, document_id text,
        PRIMARY KEY ((tenant_id), created_us, document_id))
        WITH CLUSTERING ORDER BY (created_us DESC, document_id ASC)""",
    # A scope's documents (the key of schemas/scopes.py: '' for the tenant's library).
    # Documents uploaded before this table existed are listed by tenant only.
    """CREATE TABLE IF NOT EXISTS documents_by_scope (
        tenant_id text, scope text, created_us bigint, document_id text,
        PRIMARY KEY ((tenant_id, scope), created_us, document_id))
        WITH CLUSTERING ORDER BY (created_us DESC, document_id ASC)""",
    """CREATE TABLE IF NOT EXISTS document_blobs (
        tenant_id text, document_id text, part int, data blob,
        PRIMARY KEY ((tenant_id, document_id), part))""",
)
# conversation_id holds the scope's key (null for the tenant's library): the column was
# named when a conversation was the only scope narrower than the tenant.
_COLUMNS = ("tenant_id, document_id, user_id, conversation_id, title, filename, media_type, "
            "size, status, chunks_done, chunks_total, error, created_us, updated_us, url, "
            "fetched_us, changes")
# Columns added after the table first shipped: added to an older keyspace at start.
_ADDED = (("url", "text"), ("fetched_us", "bigint"), ("changes", "text"))


@dataclass(frozen=True, slots=True)
class _Statements:
    insert: Any
    insert_by_tenant: Any
    insert_by_scope: Any
    insert_part: Any
    select: Any
    select_many: Any
    select_by_tenant: Any
    select_by_scope: Any
    select_parts: Any
    update_status: Any
    record_fetch: Any
    delete: Any
    delete_by_tenant: Any
    delete_by_scope: Any
    delete_parts: Any


class CassandraDocumentStore:
    """Satisfies ``DocumentStore``. Every write to a ``documents`` row is a lightweight
    transaction, so a status update can never bring back a document deleted meanwhile."""

    def __init__(self, session: CassandraSession) -> None:
        self._db = session
        self._st: _Statements | None = None

    async def start(self) -> None:
        if self._st is not None:
            return
        await self._db.start()
        for ddl in _TABLES:
            await self._db.execute(ddl)
        for name, kind in _ADDED:
            try:
                await self._db.execute(f"ALTER TABLE documents ADD {name} {kind}")
            except Exception as exc:  # the driver's InvalidRequest: there already
                if "already exists" not in str(exc) and "conflicts with" not in str(exc):
                    raise
        p = self._db.prepare
        self._st = _Statements(
            insert=await p(f"INSERT INTO documents ({_COLUMNS}) VALUES "
                           f"({', '.join('?' * 17)}) IF NOT EXISTS", idempotent=False),
            insert_by_tenant=await p("INSERT INTO documents_by_tenant (tenant_id, created_us, "
                                     "document_id) VALUES (?, ?, ?)"),
            insert_by_scope=await p("INSERT INTO documents_by_scope (tenant_id, scope, "
                                    "created_us, document_id) VALUES (?, ?, ?, ?)"),
            insert_part=await p("INSERT INTO document_blobs (tenant_id, document_id, part, "
                                "data) VALUES (?, ?, ?, ?)"),
            select=await p(f"SELECT {_COLUMNS} FROM documents WHERE tenant_id = ? AND "
                           "document_id = ?"),
            select_many=await p(f"SELECT {_COLUMNS} FROM documents WHERE tenant_id = ? AND "
                                "document_id IN ?"),
            select_by_tenant=await p("SELECT document_id FROM documents_by_tenant WHERE "
                                     "tenant_id = ? LIMIT ?"),
            select_by_scope=await p("SELECT document_id FROM documents_by_scope WHERE "
                                    "tenant_id = ? AND scope = ? LIMIT ?"),
            select_parts=await p("SELECT part, data FROM document_blobs WHERE tenant_id = ? "
                                 "AND document_id = ?"),
            update_status=await p("UPDATE documents SET status = ?, chunks_done = ?, "
                                  "chunks_total = ?, error = ?, updated_us = ? WHERE "
                                  "tenant_id = ? AND document_id = ? IF EXISTS",
                                  idempotent=False),
            record_fetch=await p("UPDATE documents SET title = ?, media_type = ?, size = ?, "
                                 "fetched_us = ?, changes = ?, updated_us = ? WHERE "
                                 "tenant_id = ? AND document_id = ? IF EXISTS",
                                 idempotent=False),
            delete=await p("DELETE FROM documents WHERE tenant_id = ? AND document_id = ? "
                           "IF EXISTS", idempotent=False),
            delete_by_tenant=await p("DELETE FROM documents_by_tenant WHERE tenant_id = ? "
                                     "AND created_us = ? AND document_id = ?"),
            delete_by_scope=await p("DELETE FROM documents_by_scope WHERE tenant_id = ? "
                                    "AND scope = ? AND created_us = ? AND document_id = ?"),
            delete_parts=await p("DELETE FROM document_blobs WHERE tenant_id = ? AND "
                                 "document_id = ?"),
        )
        # The session (and its connections) belongs to the conversation store.

    async def close(self) -> None:
        self._st = None

    async def ready(self) -> tuple[bool, str]:
        if self._st is None:
            return False, "cassandra document store is not started"
        return await self._db.ready()

    def _prepared(self) -> _Statements:
        if self._st is None:
            raise StoreUnavailable("cassandra document store is not started")
        return self._st

    async def create(self, document: Document, blob: bytes) -> None:
        d, st = document, self._prepared()
        # Bytes first: a worker that sees the document can always read them.
        parts = [blob[i:i + BLOB_PART_BYTES] for i in range(0, len(blob), BLOB_PART_BYTES)]
        await asyncio.gather(*(self._db.execute(st.insert_part, (d.tenant_id, d.id, n, part))
                               for n, part in enumerate(parts)))
        created = to_us(d.created_at)
        await self._db.execute(st.insert, (
            d.tenant_id, d.id, d.user_id, d.scope.key or None, d.title, d.filename, d.media_type,
            d.size, d.status, d.chunks_done, d.chunks_total, d.error, created,
            to_us(d.updated_at or d.created_at), d.url,
            to_us(d.fetched_at) if d.fetched_at else None, d.changes))
        await asyncio.gather(
            self._db.execute(st.insert_by_tenant, (d.tenant_id, created, d.id)),
            self._db.execute(st.insert_by_scope, (d.tenant_id, d.scope.key, created, d.id)))

    async def get(self, tenant_id: str, document_id: str) -> Document | None:
        rows = await self._db.execute(self._prepared().select, (tenant_id, document_id))
        return _document(rows[0]) if rows else None

    async def list_documents(self, tenant_id: str, limit: int = 100,
                             scope: Scope | None = None) -> list[Document]:
        if limit <= 0:
            return []
        st = self._prepared()
        listed = await (self._db.execute(st.select_by_tenant, (tenant_id, limit))
                        if scope is None else
                        self._db.execute(st.select_by_scope, (tenant_id, scope.key, limit)))
        ids = [r["document_id"] for r in listed]
        if not ids:
            return []
        rows = await self._db.execute(st.select_many, (tenant_id, ids))
        found = {r["document_id"]: _document(r) for r in rows}
        return [found[i] for i in ids if i in found]

    async def read_blob(self, tenant_id: str, document_id: str) -> bytes | None:
        rows = await self._db.execute(self._prepared().select_parts, (tenant_id, document_id))
        if not rows:
            return None
        return b"".join(bytes(r["data"]) for r in sorted(rows, key=lambda r: r["part"]))

    async def update_status(self, tenant_id: str, document_id: str, status: DocumentStatus, *,
                            done: int = 0, total: int = 0, error: str | None = None) -> bool:
        rows = await self._db.execute(self._prepared().update_status, (
            status, done, total, error, to_us(utcnow()), tenant_id, document_id))
        return bool(rows and rows[0]["[applied]"])

    async def record_fetch(self, tenant_id: str, document_id: str, *, title: str,
                           media_type: str, fetched_at: datetime, changes: str | None,
                           text: bytes) -> bool:
        st = self._prepared()
        rows = await self._db.execute(st.record_fetch, (
            title, media_type, len(text), to_us(fetched_at), changes, to_us(utcnow()),
            tenant_id, document_id))
        if not (rows and rows[0]["[applied]"]):
            return False
        # Only the ingestion stage reads the bytes, and only this run writes them.
        await self._db.execute(st.delete_parts, (tenant_id, document_id))
        parts = [text[i:i + BLOB_PART_BYTES] for i in range(0, len(text), BLOB_PART_BYTES)]
        await asyncio.gather(*(self._db.execute(st.insert_part, (tenant_id, document_id, n, p))
                               for n, p in enumerate(parts)))
        return True

    async def delete(self, tenant_id: str, document_id: str) -> bool:
        st = self._prepared()
        existing = await self.get(tenant_id, document_id)
        rows = await self._db.execute(st.delete, (tenant_id, document_id))
        await self._db.execute(st.delete_parts, (tenant_id, document_id))
        if existing is not None:
            created = to_us(existing.created_at)
            await asyncio.gather(
                self._db.execute(st.delete_by_tenant, (tenant_id, created, document_id)),
                self._db.execute(st.delete_by_scope, (tenant_id, existing.scope.key, created,
                                                      document_id)))
        return bool(rows and rows[0]["[applied]"])


def _document(row: dict[str, Any]) -> Document:
    return Document(
        tenant_id=row["tenant_id"], id=row["document_id"], user_id=row["user_id"],
        scope=Scope.of_key(row["conversation_id"]), title=row["title"], filename=row["filename"],
        media_type=row["media_type"], size=row["size"], status=row["status"],
        chunks_done=row["chunks_done"] or 0, chunks_total=row["chunks_total"] or 0,
        error=row["error"], created_at=from_us(row["created_us"]),
        updated_at=from_us(row["updated_us"]), url=row["url"],
        fetched_at=from_us(row["fetched_us"]) if row["fetched_us"] is not None else None,
        changes=row["changes"],
    )
