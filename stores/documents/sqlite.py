"""SQLite document store: the embedded default, in the same file as the conversations."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.events import utcnow
from schemas.scopes import Scope
from stores.documents.base import Document, DocumentStatus
from stores.sqlite_thread import SQLiteThread

__all__ = ("SQLiteDocumentStore",)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    tenant_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL,
    conversation_id TEXT, title TEXT NOT NULL, filename TEXT NOT NULL,
    media_type TEXT NOT NULL, size INTEGER NOT NULL, status TEXT NOT NULL,
    chunks_done INTEGER NOT NULL DEFAULT 0, chunks_total INTEGER NOT NULL DEFAULT 0,
    error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id));
CREATE INDEX IF NOT EXISTS documents_by_time ON documents (tenant_id, created_at DESC);
CREATE INDEX IF NOT EXISTS documents_by_scope
    ON documents (tenant_id, conversation_id, created_at DESC);
CREATE TABLE IF NOT EXISTS document_blobs (
    tenant_id TEXT NOT NULL, document_id TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (tenant_id, document_id));
"""
# conversation_id holds the scope's key (NULL for the tenant's library): the column was
# named when a conversation was the only scope narrower than the tenant.
_COLUMNS = ("tenant_id, id, user_id, conversation_id, title, filename, media_type, size, "
            "status, chunks_done, chunks_total, error, created_at, updated_at, url, "
            "fetched_at, changes")
# Columns added after the table first shipped: added to an older file at start.
_ADDED = (("url", "TEXT"), ("fetched_at", "TEXT"), ("changes", "TEXT"))


def _migrate(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(documents)")}
    for name, kind in _ADDED:
        if name not in have:
            db.execute(f"ALTER TABLE documents ADD COLUMN {name} {kind}")


class SQLiteDocumentStore:
    """Satisfies ``DocumentStore``. One connection on one thread, like the conversation
    store it shares a file with (SQLite's WAL lets both write in turn)."""

    def __init__(self, path: Path) -> None:
        self._db = SQLiteThread(path, _SCHEMA, name="sqlite document store",
                                thread_name="sqlite-docs", timeout=10.0)

    @classmethod
    def from_url(cls, url: str) -> SQLiteDocumentStore:
        return cls(Path(url.removeprefix("sqlite:///")))

    async def start(self) -> None:
        await self._db.start()
        await self._db.run(_migrate)

    async def close(self) -> None:
        await self._db.close()

    async def ready(self) -> tuple[bool, str]:
        return await self._db.ready(f"sqlite {self._db.path}")

    async def create(self, document: Document, blob: bytes) -> None:
        d = document
        updated = (d.updated_at or d.created_at).isoformat()

        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO document_blobs VALUES (?,?,?)",
                       (d.tenant_id, d.id, blob))
            db.execute(f"INSERT OR IGNORE INTO documents ({_COLUMNS}) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (d.tenant_id, d.id, d.user_id, d.scope.key or None, d.title, d.filename,
                        d.media_type, d.size, d.status, d.chunks_done, d.chunks_total,
                        d.error, d.created_at.isoformat(), updated, d.url,
                        d.fetched_at.isoformat() if d.fetched_at else None, d.changes))
        await self._db.run(write)

    async def get(self, tenant_id: str, document_id: str) -> Document | None:
        row = await self._db.run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM documents WHERE tenant_id=? AND id=?",
            (tenant_id, document_id)).fetchone())
        return _document(row) if row else None

    async def list_documents(self, tenant_id: str, limit: int = 100,
                             scope: Scope | None = None) -> list[Document]:
        where, params = "tenant_id=?", [tenant_id]
        if scope is not None:
            where += " AND conversation_id=?" if scope.key else " AND conversation_id IS NULL"
            params += [scope.key] if scope.key else []
        rows = await self._db.run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM documents WHERE {where} "
            "ORDER BY created_at DESC, id LIMIT ?", (*params, limit)).fetchall())
        return [_document(r) for r in rows]

    async def read_blob(self, tenant_id: str, document_id: str) -> bytes | None:
        row = await self._db.run(lambda db: db.execute(
            "SELECT data FROM document_blobs WHERE tenant_id=? AND document_id=?",
            (tenant_id, document_id)).fetchone())
        return bytes(row[0]) if row else None

    async def update_status(self, tenant_id: str, document_id: str, status: DocumentStatus, *,
                            done: int = 0, total: int = 0, error: str | None = None) -> bool:
        now = utcnow().isoformat()
        changed = await self._db.run(lambda db: db.execute(
            "UPDATE documents SET status=?, chunks_done=?, chunks_total=?, error=?, "
            "updated_at=? WHERE tenant_id=? AND id=?",
            (status, done, total, error, now, tenant_id, document_id)).rowcount)
        return bool(changed)

    async def record_fetch(self, tenant_id: str, document_id: str, *, title: str,
                           media_type: str, fetched_at: datetime, changes: str | None,
                           text: bytes) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            changed = db.execute(
                "UPDATE documents SET title=?, media_type=?, size=?, fetched_at=?, changes=?, "
                "updated_at=? WHERE tenant_id=? AND id=?",
                (title, media_type, len(text), fetched_at.isoformat(), changes,
                 utcnow().isoformat(), tenant_id, document_id)).rowcount
            if changed:
                db.execute("INSERT OR REPLACE INTO document_blobs VALUES (?,?,?)",
                           (tenant_id, document_id, text))
            return bool(changed)
        return await self._db.run(write)

    async def delete(self, tenant_id: str, document_id: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM document_blobs WHERE tenant_id=? AND document_id=?",
                       (tenant_id, document_id))
            return bool(db.execute("DELETE FROM documents WHERE tenant_id=? AND id=?",
                                   (tenant_id, document_id)).rowcount)
        return await self._db.run(delete)


def _document(row: Any) -> Document:
    return Document(
        tenant_id=row[0], id=row[1], user_id=row[2], scope=Scope.of_key(row[3]), title=row[4],
        filename=row[5], media_type=row[6], size=row[7], status=row[8], chunks_done=row[9],
        chunks_total=row[10], error=row[11], created_at=datetime.fromisoformat(row[12]),
        updated_at=datetime.fromisoformat(row[13]), url=row[14],
        fetched_at=datetime.fromisoformat(row[15]) if row[15] else None, changes=row[16],
    )
