"""One contract for every DocumentStore adapter: SQLite on disk, Cassandra live (in a
keyspace made for this session, through a conversation store's session)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import DefaultEndPoint
from cassandra.policies import RoundRobinPolicy

from schemas.scopes import TENANT, Scope
from stores.cassandra import CassandraSession, default_connection_class
from stores.documents.base import Document, DocumentStore
from stores.documents.cassandra import BLOB_PART_BYTES, CassandraDocumentStore
from stores.documents.sqlite import SQLiteDocumentStore

CASSANDRA_PORT = int(os.environ.get("CHATSTREAM_CASSANDRA_PORT", "9042"))
T0 = datetime(2025, 3, 1, 12, 0, 0, 123457, tzinfo=UTC)


@pytest.fixture(scope="session")
def documents_keyspace() -> Iterator[str]:
    keyspace = f"chatstream_docs_{uuid.uuid4().hex[:12]}"
    yield keyspace
    cluster = Cluster(
        contact_points=[DefaultEndPoint("127.0.0.1", CASSANDRA_PORT)],
        execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(
            load_balancing_policy=RoundRobinPolicy())},
        connection_class=default_connection_class(), connect_timeout=5)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    except NoHostAvailable:
        pass  # unreachable all along: the failing tests already said so
    finally:
        cluster.shutdown()


@pytest.fixture(params=["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)])
async def documents(request: pytest.FixtureRequest,
                    tmp_path: Path) -> AsyncIterator[DocumentStore]:
    if request.param == "sqlite":
        store: DocumentStore = SQLiteDocumentStore(tmp_path / "chatstream.db")
        await store.start()
        try:
            yield store
        finally:
            await store.close()
        return
    keyspace = request.getfixturevalue("documents_keyspace")
    session = CassandraSession([("127.0.0.1", CASSANDRA_PORT)], keyspace, request_timeout=20.0)
    store = CassandraDocumentStore(session)
    await store.start()
    try:
        yield store
    finally:
        await store.close()
        await session.close()


def document(tenant: str, *, at: datetime = T0, conversation_id: str | None = None,
             id: str | None = None) -> Document:
    return Document(tenant_id=tenant, id=id or f"doc-{uuid.uuid4().hex[:10]}",
                    user_id="user-1", title="Lab notes", filename="notes.pdf",
                    media_type="application/pdf", size=3, created_at=at,
                    scope=Scope.conversation(conversation_id) if conversation_id else TENANT,
                    updated_at=at)


def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


async def test_created_document_and_blob_round_trip(documents: DocumentStore) -> None:
    d = document(tenant(), conversation_id="conv-1")
    await documents.create(d, b"%PDF")
    assert await documents.get(d.tenant_id, d.id) == d
    assert await documents.read_blob(d.tenant_id, d.id) == b"%PDF"


async def test_large_blob_survives_in_parts(documents: DocumentStore) -> None:
    d = document(tenant())
    blob = os.urandom(BLOB_PART_BYTES * 3 + 12345)
    await documents.create(d, blob)
    assert await documents.read_blob(d.tenant_id, d.id) == blob


async def test_status_moves_with_progress(documents: DocumentStore) -> None:
    d = document(tenant())
    await documents.create(d, b"x")
    assert await documents.update_status(d.tenant_id, d.id, "indexing", done=2, total=5)
    got = await documents.get(d.tenant_id, d.id)
    assert got is not None
    assert (got.status, got.chunks_done, got.chunks_total, got.error) == ("indexing", 2, 5, None)
    assert got.updated_at is not None and got.updated_at > d.created_at
    assert await documents.update_status(d.tenant_id, d.id, "failed", error="bad PDF")
    got = await documents.get(d.tenant_id, d.id)
    assert got is not None and (got.status, got.error) == ("failed", "bad PDF")


async def test_listed_newest_first_per_tenant(documents: DocumentStore) -> None:
    t = tenant()
    old, new = document(t), document(t, at=T0 + timedelta(minutes=1))
    await documents.create(old, b"1")
    await documents.create(new, b"2")
    await documents.create(document(tenant()), b"other tenant")
    assert [d.id for d in await documents.list_documents(t)] == [new.id, old.id]
    assert [d.id for d in await documents.list_documents(t, limit=1)] == [new.id]


async def test_listed_by_scope(documents: DocumentStore) -> None:
    t = tenant()
    library = document(t)
    mine = document(t, conversation_id="conv-1", at=T0 + timedelta(minutes=1))
    other = document(t, conversation_id="conv-2", at=T0 + timedelta(minutes=2))
    for d in (library, mine, other):
        await documents.create(d, b"x")
    assert [d.id for d in await documents.list_documents(t, scope=TENANT)] == [library.id]
    conv1 = await documents.list_documents(t, scope=Scope.conversation("conv-1"))
    assert [(d.id, d.scope) for d in conv1] == [(mine.id, Scope.conversation("conv-1"))]
    assert len(await documents.list_documents(t)) == 3
    await documents.delete(t, mine.id)
    assert await documents.list_documents(t, scope=Scope.conversation("conv-1")) == []


async def test_delete_removes_document_and_blob(documents: DocumentStore) -> None:
    d = document(tenant())
    await documents.create(d, b"bytes")
    assert await documents.delete(d.tenant_id, d.id)
    assert await documents.get(d.tenant_id, d.id) is None
    assert await documents.read_blob(d.tenant_id, d.id) is None
    assert await documents.list_documents(d.tenant_id) == []
    assert not await documents.delete(d.tenant_id, d.id)


async def test_status_update_never_brings_back_a_deleted_document(
        documents: DocumentStore) -> None:
    d = document(tenant())
    await documents.create(d, b"bytes")
    await documents.delete(d.tenant_id, d.id)
    assert not await documents.update_status(d.tenant_id, d.id, "ready", done=1, total=1)
    assert await documents.get(d.tenant_id, d.id) is None


async def test_tenants_are_separate(documents: DocumentStore) -> None:
    d = document(tenant())
    await documents.create(d, b"bytes")
    assert await documents.get(tenant(), d.id) is None
    assert await documents.read_blob(tenant(), d.id) is None
    assert not await documents.delete(tenant(), d.id)
    assert await documents.get(d.tenant_id, d.id) == d


async def test_a_refetched_page_records_its_text_title_and_changes(
        documents: DocumentStore) -> None:
    from dataclasses import replace

    t = tenant()
    d = replace(document(t), url="https://example.com/a", media_type="text/html", size=0)
    await documents.create(d, b"")
    later = T0 + timedelta(hours=1)
    assert await documents.record_fetch(t, d.id, title="Page A", media_type="text/html",
                                        fetched_at=later, changes="+new line", text=b"text")
    got = await documents.get(t, d.id)
    assert got is not None and got.url == "https://example.com/a" and got.title == "Page A"
    assert got.fetched_at == later and got.changes == "+new line" and got.size == 4
    assert await documents.read_blob(t, d.id) == b"text"
    await documents.delete(t, d.id)
    assert not await documents.record_fetch(t, d.id, title="x", media_type="text/html",
                                            fetched_at=later, changes=None, text=b"back")
    assert await documents.read_blob(t, d.id) is None


async def test_an_older_sqlite_file_gets_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the table as it shipped before pages by URL
        db.execute("CREATE TABLE documents (tenant_id TEXT NOT NULL, id TEXT NOT NULL, "
                   "user_id TEXT NOT NULL, conversation_id TEXT, title TEXT NOT NULL, "
                   "filename TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL, "
                   "status TEXT NOT NULL, chunks_done INTEGER NOT NULL DEFAULT 0, "
                   "chunks_total INTEGER NOT NULL DEFAULT 0, error TEXT, created_at TEXT "
                   "NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, id))")
        db.execute("INSERT INTO documents VALUES ('t','d','u',NULL,'T','f.txt','text/plain',"
                   "1,'ready',1,1,NULL,?,?)", (T0.isoformat(), T0.isoformat()))
    db.close()
    store = SQLiteDocumentStore(path)
    await store.start()
    try:
        got = await store.get("t", "d")
        assert got is not None and got.url is None and got.status == "ready"
    finally:
        await store.close()
