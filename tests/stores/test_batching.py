"""Writes in flight together to one Cassandra partition go as one UNLOGGED batch, on the
real server: all land, in fewer round trips, and a failure reaches every writer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from cassandra import InvalidRequest

from harness.servers import CASSANDRA, require
from stores.cassandra import CassandraSession
from stores.conversations.batching import PartitionBatcher

pytestmark = pytest.mark.cassandra


@pytest.fixture
async def db() -> AsyncIterator[CassandraSession]:
    require(CASSANDRA, "Cassandra")
    keyspace = f"batch_{uuid.uuid4().hex[:8]}"
    session = CassandraSession.from_url(f"cassandra://{CASSANDRA}/{keyspace}")
    await session.start()
    await session.execute("CREATE TABLE rows (p text, n int, v text, PRIMARY KEY (p, n))")
    yield session
    await session.execute(f"DROP KEYSPACE {keyspace}")
    await session.close()


async def test_writes_to_one_partition_are_batched_and_all_land(db: CassandraSession) -> None:
    calls: list[object] = []

    async def execute(statement: Any, params: Sequence[Any] | None) -> list[dict[str, Any]]:
        calls.append(statement)
        return await db.execute(statement, params)

    insert = await db.prepare("INSERT INTO rows (p, n, v) VALUES (?, ?, ?)")
    batcher = PartitionBatcher(execute)
    await asyncio.gather(*(batcher.write("a", insert, ("a", n, f"v{n}")) for n in range(40)),
                         *(batcher.write("b", insert, ("b", n, f"w{n}")) for n in range(5)))
    rows = await db.execute("SELECT p, n FROM rows")
    assert sorted((r["p"], r["n"]) for r in rows) == sorted(
        [("a", n) for n in range(40)] + [("b", n) for n in range(5)])
    # Writes issued while a partition's batch is being prepared or on its way go together.
    assert len(calls) < 10


async def test_a_failed_batch_fails_each_of_its_writers(db: CassandraSession) -> None:
    insert = await db.prepare("INSERT INTO rows (p, n, v) VALUES (?, ?, ?)")
    batcher = PartitionBatcher(db.execute)
    results = await asyncio.gather(
        batcher.write("c", insert, ("c", 1, "x")),
        *(batcher.write("c", insert, ("c", None, "bad")) for _ in range(3)),
        return_exceptions=True)
    # One batch: the bad row fails it, and each writer hears so (none is left waiting).
    assert all(isinstance(r, InvalidRequest) for r in results), results
    await batcher.write("c", insert, ("c", 2, "y"))  # the partition is usable again
    rows = await db.execute("SELECT n FROM rows WHERE p = 'c'")
    assert [r["n"] for r in rows] == [2]
