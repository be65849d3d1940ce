"""One claim per key and tenant, on SQLite and on the real Cassandra."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.servers import CASSANDRA, require
from stores.cassandra import CassandraSession
from stores.idempotency import (
    CassandraIdempotencyStore,
    Claim,
    IdempotencyStore,
    SQLiteIdempotencyStore,
)


@pytest.fixture(params=["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)])
async def keys(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IdempotencyStore]:
    if request.param == "sqlite":
        store: IdempotencyStore = SQLiteIdempotencyStore(tmp_path / "idem.db")
        await store.start()
        yield store
        await store.close()
        return
    require(CASSANDRA, "Cassandra")
    keyspace = f"idem_{uuid.uuid4().hex[:8]}"
    db = CassandraSession.from_url(f"cassandra://{CASSANDRA}/{keyspace}")
    await db.start()
    store = CassandraIdempotencyStore(db)
    await store.start()
    yield store
    await db.execute(f"DROP KEYSPACE {keyspace}")
    await db.close()


async def test_first_claim_wins_and_repeats_get_its_result(keys: IdempotencyStore) -> None:
    assert await keys.claim("t1", "k", "fp", '{"id": 1}') is None
    assert await keys.claim("t1", "k", "fp", '{"id": 2}') == Claim("fp", '{"id": 1}')
    assert await keys.claim("t2", "k", "fp", '{"id": 3}') is None, "keys are per tenant"


async def test_concurrent_claims_have_one_winner(keys: IdempotencyStore) -> None:
    results = await asyncio.gather(*(keys.claim("t", "race", "fp", str(i)) for i in range(8)))
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1
    assert {r.response for r in results if r is not None} == {str(winners[0])}


async def test_released_key_can_be_claimed_again(keys: IdempotencyStore) -> None:
    assert await keys.claim("t", "k2", "fp", "a") is None
    await keys.release("t", "k2")
    assert await keys.claim("t", "k2", "fp", "b") is None


async def test_expired_keys_are_purged_on_sqlite(tmp_path: Path) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "idem.db")
    await store.start()
    try:
        assert await store.claim("t", "old", "fp", "a") is None
        assert await store.claim("t", "new", "fp", "b") is None
        import sqlite3

        with sqlite3.connect(tmp_path / "idem.db") as db:  # "old" was claimed two days ago
            db.execute("UPDATE idempotency_keys SET expires=expires-172800 WHERE key='old'")
        assert await store.purge_expired() == 1
        with sqlite3.connect(tmp_path / "idem.db") as db:
            assert [r[0] for r in db.execute("SELECT key FROM idempotency_keys")] == ["new"]
    finally:
        await store.close()


async def test_a_key_is_kept_when_the_log_may_hold_the_record(tmp_path: Path) -> None:
    """The publish was handed to Kafka and its acknowledgement timed out: the record may
    be in the log, so the client's retry must get the first result, not publish again."""
    from types import SimpleNamespace
    from typing import Any, cast

    from pydantic import BaseModel

    from api.guards.idempotency import once
    from kernel.errors import LogUnavailable

    class Accepted(BaseModel):
        request_id: str

    store = SQLiteIdempotencyStore(tmp_path / "idem.db")
    await store.start()
    services = cast(Any, SimpleNamespace(idempotency=store))
    published: list[str] = []
    try:
        async def unacknowledged() -> None:
            published.append("r1")
            raise LogUnavailable("kafka did not acknowledge chat.requests.v1: "
                                 "KafkaTimeoutError", maybe_written=True)

        with pytest.raises(LogUnavailable):
            await once(services, "t", "key-1", lambda: "fp", Accepted(request_id="r1"),
                       unacknowledged)

        async def publish_again() -> None:
            published.append("r2")

        result, repeat = await once(services, "t", "key-1", lambda: "fp",
                                    Accepted(request_id="r2"), publish_again)
        assert repeat and result.request_id == "r1" and published == ["r1"]

        async def refused() -> None:  # refused before anything was sent: released
            raise LogUnavailable("kafka refused chat.requests.v1: KafkaConnectionError")

        with pytest.raises(LogUnavailable):
            await once(services, "t", "key-2", lambda: "fp", Accepted(request_id="r3"), refused)
        result, repeat = await once(services, "t", "key-2", lambda: "fp",
                                    Accepted(request_id="r4"), publish_again)
        assert not repeat and result.request_id == "r4"
    finally:
        await store.close()
