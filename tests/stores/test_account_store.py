"""Accounts on SQLite and on the real Cassandra: unique emails, one-use refresh tokens,
and counters that never pass their limit under concurrent callers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.servers import CASSANDRA, require
from schemas.events import utcnow
from stores.accounts.base import AccountStore, ApiKey, Tenant, User
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


async def test_tenants_users_and_unique_emails(accounts: AccountStore) -> None:
    assert await accounts.create_tenant(Tenant("t1", "T1", "free", utcnow()))
    assert not await accounts.create_tenant(Tenant("t1", "again", "pro", utcnow()))
    u = User("t1", "u1", "a@x.io", "owner", "hash", utcnow())
    assert await accounts.create_user(u)
    assert not await accounts.create_user(User("t2", "u9", "a@x.io", "member", "h", utcnow()))
    found = await accounts.user_by_email("a@x.io")
    assert found is not None and (found.tenant_id, found.id, found.role) == ("t1", "u1", "owner")
    assert [x.id for x in await accounts.list_users("t1")] == ["u1"]
    assert await accounts.list_users("t2") == []
    await accounts.set_plan("t1", "pro")
    tenant = await accounts.get_tenant("t1")
    assert tenant is not None and tenant.plan == "pro"


async def test_keys_are_revoked_only_by_their_tenant(accounts: AccountStore) -> None:
    await accounts.create_key(ApiKey("p1", "t1", "u1", "ci", "d", utcnow()))
    assert not await accounts.revoke_key("t2", "p1")
    key = await accounts.get_key("p1")
    assert key is not None and not key.revoked
    assert await accounts.revoke_key("t1", "p1")
    key = await accounts.get_key("p1")
    assert key is not None and key.revoked
    assert [k.prefix for k in await accounts.list_keys("t1")] == ["p1"]
    assert await accounts.list_keys("t2") == []


async def test_a_refresh_token_is_good_once(accounts: AccountStore) -> None:
    await accounts.add_refresh("j1", "u1", 60)
    results = await asyncio.gather(*(accounts.use_refresh("j1") for _ in range(5)))
    assert results.count(True) == 1
    assert not await accounts.use_refresh("unknown")


async def test_concurrent_counting_stops_exactly_at_the_limit(accounts: AccountStore) -> None:
    results = await asyncio.gather(*(accounts.consume("user:t:u", "m1", "requests", 7, 120)
                                     for _ in range(15)))
    assert sorted(r for r in results if r is not None) == list(range(1, 8))
    assert results.count(None) == 8
    assert await accounts.counters("user:t:u", "m1") == {"requests": 7}
    assert await accounts.consume("user:t:u", "m2", "requests", 7, 120) == 1, "a new window"
    assert await accounts.consume("tenant:t", "2026-11", "docs", None, 60, 5) == 5
    assert await accounts.consume("tenant:t", "2026-11", "docs", 6, 60, 2) is None


async def test_adding_once_ignores_a_repeated_marker(accounts: AccountStore) -> None:
    assert await accounts.add_once("r1", "tenant:t", "2026-11", "tokens", 40, 60)
    assert not await accounts.add_once("r1", "tenant:t", "2026-11", "tokens", 40, 60)
    assert await accounts.add_once("r2", "tenant:t", "2026-11", "tokens", 2, 60)
    assert await accounts.counters("tenant:t", "2026-11") == {"tokens": 42}


async def test_expired_refresh_tokens_and_markers_are_purged(
        accounts: AccountStore, tmp_path: Path) -> None:
    """The table of refresh tokens does not keep every token ever issued: expired rows
    go (SQLite: a periodic delete; Cassandra: a TTL on every cell, the used mark too)."""
    await accounts.add_refresh("old", "u1", 1)
    await accounts.add_refresh("live", "u1", 3600)
    await asyncio.sleep(1.5)  # "old" expires
    assert await accounts.use_refresh("live")
    assert not await accounts.use_refresh("old")
    if isinstance(accounts, SQLiteAccountStore):
        assert await accounts.purge_expired() >= 1
        import sqlite3

        with sqlite3.connect(tmp_path / "accounts.db") as db:
            left = [r[0] for r in db.execute("SELECT jti FROM refresh_tokens")]
        assert left == ["live"]
    else:
        assert isinstance(accounts, CassandraAccountStore)
        rows = await accounts._db.execute(
            "SELECT jti, TTL(used) AS used_ttl, TTL(user_id) AS ttl FROM refresh_tokens")
        by_jti = {r["jti"]: r for r in rows}
        assert "old" not in by_jti
        assert 0 < by_jti["live"]["used_ttl"] <= 3600, "the used mark would live forever"
