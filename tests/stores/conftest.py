"""Fixtures of the store tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.servers import CASSANDRA, require
from stores.accounts.base import AccountStore
from stores.accounts.cassandra import CassandraAccountStore
from stores.accounts.sqlite import SQLiteAccountStore
from stores.cassandra import CassandraSession


@pytest.fixture(params=["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)])
async def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AccountStore]:
    if request.param == "sqlite":
        store: AccountStore = SQLiteAccountStore(tmp_path / "accounts.db")
        await store.start()
        yield store
        await store.close()
        return
    require(CASSANDRA, "Cassandra")
    keyspace = f"acct_{uuid.uuid4().hex[:8]}"
    db = CassandraSession.from_url(f"cassandra://{CASSANDRA}/{keyspace}")
    await db.start()
    store = CassandraAccountStore(db)
    await store.start()
    yield store
    await db.execute(f"DROP KEYSPACE {keyspace}")
    await db.close()
