"""One contract for every AssistantStore adapter: SQLite on disk, Cassandra live (a
keyspace of its own, dropped afterwards)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cleanup import drop_keyspace
from schemas.assistants import AssistantSpec
from stores.assistants.base import AssistantStore, AssistantVersion, Pin
from stores.assistants.cassandra import CassandraAssistantStore
from stores.assistants.registry import AssistantRegistry
from stores.assistants.sqlite import SQLiteAssistantStore
from stores.cassandra import CassandraSession

T0 = datetime(2026, 12, 7, 9, 0, 0, 123457, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)])
async def store(request: pytest.FixtureRequest, tmp_path: Path
                ) -> AsyncIterator[AssistantStore]:
    if request.param == "sqlite":
        found: AssistantStore = SQLiteAssistantStore(tmp_path / "chatstream.db")
        await found.start()
        yield found
        await found.close()
        return
    keyspace = f"chatstream_assist_{uuid.uuid4().hex[:12]}"
    session = CassandraSession([("127.0.0.1", 9042)], keyspace, request_timeout=20.0)
    found = CassandraAssistantStore(session)
    await found.start()
    try:
        yield found
    finally:
        await found.close()
        await session.close()
        await asyncio.to_thread(drop_keyspace, f"cassandra://127.0.0.1:9042/{keyspace}")


def version(tenant: str, number: int, title: str = "Support", *, archived: bool = False,
            name: str = "support-bot") -> AssistantVersion:
    return AssistantVersion(tenant, name, number, archived, "admin-1", T0,
                            AssistantSpec(title=title, instructions="Be kind to {{user.name}}"))


async def test_versions_are_append_only_and_one_writer_wins_a_number(
        store: AssistantStore) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    assert await store.add_version(version(tenant, 1))
    # Two admins race for version 2: exactly one wins, the loser's spec is not stored.
    won = await asyncio.gather(store.add_version(version(tenant, 2, "A")),
                               store.add_version(version(tenant, 2, "B")))
    assert sorted(won) == [False, True]
    assert await store.add_version(version(tenant, 3, archived=True))
    latest = await store.latest(tenant, "support-bot")
    assert latest is not None and latest.version == 3 and latest.archived
    assert latest.created_at == T0 and latest.spec.instructions == "Be kind to {{user.name}}"
    second = await store.get_version(tenant, "support-bot", 2)
    assert second is not None and second.spec.title in ("A", "B")
    assert [v.version for v in await store.versions(tenant, "support-bot")] == [3, 2, 1]
    assert await store.add_version(version(tenant, 1, name="billing"))
    assert [(v.name, v.version) for v in await store.list_latest(tenant)] == [
        ("billing", 1), ("support-bot", 3)]
    # Nothing of one tenant is seen by another.
    assert await store.list_latest(f"other-{tenant}") == []
    assert await store.get_version(f"other-{tenant}", "support-bot", 1) is None


async def test_a_conversation_keeps_its_pin_until_moved(store: AssistantStore) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    assert await store.get_pin(tenant, "c-1") is None
    await store.set_pin(Pin(tenant, "c-1", "support-bot", 1))
    await store.set_pin(Pin(tenant, "c-1", "support-bot", 4))
    assert await store.get_pin(tenant, "c-1") == Pin(tenant, "c-1", "support-bot", 4)
    assert await store.get_pin("another", "c-1") is None


async def test_the_registry_serves_from_memory_and_reads_a_miss_once(
        store: AssistantStore) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    for n in (1, 2):
        assert await store.add_version(version(tenant, n, f"v{n}"))
    registry = AssistantRegistry(store, max_older=1)
    registry.apply(version(tenant, 2, "v2").event())
    assert (await registry.get(tenant, "support-bot")).spec.title == "v2"  # type: ignore[union-attr]
    older = await registry.get(tenant, "support-bot", 1)  # not on the topic yet: the store
    assert older is not None and older.spec.title == "v1"
    assert registry.cached(tenant, "support-bot", 1) == older
    assert await registry.get(tenant, "nope") is None
    # Versions arriving out of order keep the newest as newest.
    registry.apply(version(tenant, 3, "v3").event())
    registry.apply(version(tenant, 1, "v1").event())
    assert registry.cached(tenant, "support-bot").spec.title == "v3"  # type: ignore[union-attr]
