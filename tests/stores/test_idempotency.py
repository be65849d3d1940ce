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
