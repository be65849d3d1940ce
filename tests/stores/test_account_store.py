"""Accounts on SQLite and on the real Cassandra: emails unique per tenant, one-use
refresh tokens, sessions, and counters, leases and claims that never pass their limit
under concurrent callers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from schemas.events import utcnow
from stores.accounts.base import AccountStore, ApiKey, Tenant, User
from stores.accounts.cassandra import CassandraAccountStore
from stores.accounts.sqlite import SQLiteAccountStore


async def test_tenants_users_and_emails_unique_per_tenant(accounts: AccountStore) -> None:
    assert await accounts.create_tenant(Tenant("t1", "T1", "free", utcnow()))
    assert not await accounts.create_tenant(Tenant("t1", "again", "pro", utcnow()))
    u = User("t1", "u1", "a@x.io", "owner", "hash", utcnow())
    assert await accounts.create_user(u)
    assert not await accounts.create_user(User("t1", "u2", "a@x.io", "member", "h", utcnow()))
    # Another tenant's user may have the same address.
    assert await accounts.create_user(User("t2", "u9", "a@x.io", "member", "h", utcnow()))
    found = await accounts.users_by_email("a@x.io")
    assert [(f.tenant_id, f.id, f.role) for f in found] == [("t1", "u1", "owner"),
                                                            ("t2", "u9", "member")]
    assert await accounts.users_by_email("nobody@x.io") == []
    assert [x.id for x in await accounts.list_users("t1")] == ["u1"]
    assert [x.id for x in await accounts.list_users("t2")] == ["u9"]
    await accounts.set_plan("t1", "pro")
    tenant = await accounts.get_tenant("t1")
    assert tenant is not None and tenant.plan == "pro"


async def test_users_change_and_go(accounts: AccountStore) -> None:
    assert await accounts.create_user(User("t1", "u1", "a@x.io", "member", "h1", utcnow()))
    changed = await accounts.update_user("t1", "u1", role="admin", sessions_after=123.5)
    assert changed is not None and (changed.role, changed.password_hash,
                                    changed.sessions_after) == ("admin", "h1", 123.5)
    changed = await accounts.update_user("t1", "u1", password_hash="h2")
    assert changed is not None and (changed.role, changed.password_hash) == ("admin", "h2")
    assert await accounts.update_user("t1", "nobody", role="member") is None
    assert await accounts.get_user("t1", "nobody") is None, "an update made no user"
    assert not await accounts.delete_user("t2", "u1")
    assert await accounts.delete_user("t1", "u1")
    assert await accounts.get_user("t1", "u1") is None
    assert await accounts.users_by_email("a@x.io") == []
    # The address is free again in that tenant.
    assert await accounts.create_user(User("t1", "u3", "a@x.io", "member", "h", utcnow()))


async def test_a_revoked_session_stays_revoked_for_its_ttl(accounts: AccountStore) -> None:
    assert not await accounts.session_revoked("s1")
    await accounts.revoke_session("s1", 1)
    await accounts.revoke_session("s2", 3600)
    assert await accounts.session_revoked("s1") and await accounts.session_revoked("s2")
    await asyncio.sleep(1.5)
    assert not await accounts.session_revoked("s1"), "gone once no token could live"
    assert await accounts.session_revoked("s2")


async def test_keys_keep_their_scopes_and_expiry(accounts: AccountStore) -> None:
    expires = utcnow().replace(microsecond=0)
    await accounts.create_key(ApiKey("p2", "t1", "u1", "ci", "d", utcnow(),
                                     scopes=("chat", "embeddings"), expires_at=expires))
    await accounts.create_key(ApiKey("p3", "t1", "u1", "old", "d", utcnow()))
    key = await accounts.get_key("p2")
    assert key is not None and key.scopes == ("chat", "embeddings")
    assert key.expires_at == expires
    old = await accounts.get_key("p3")
    assert old is not None and old.scopes is None and old.expires_at is None


async def test_a_tenants_settings_are_its_own(accounts: AccountStore) -> None:
    assert await accounts.tenant_settings("t1") == {}
    await accounts.set_tenant_setting("t1", "guard_mode", "flag")
    await accounts.set_tenant_setting("t1", "guard_mode", "off")
    await accounts.set_tenant_setting("t2", "guard_mode", "block")
    assert await accounts.tenant_settings("t1") == {"guard_mode": "off"}
    assert await accounts.tenant_settings("t2") == {"guard_mode": "block"}


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


async def test_units_are_given_back(accounts: AccountStore) -> None:
    assert await accounts.consume("tenant:t", "2026-11", "messages", 5, 60, 5) == 5
    assert await accounts.consume("tenant:t", "2026-11", "messages", 5, 60) is None
    assert await accounts.consume("tenant:t", "2026-11", "messages", None, 60, -2) == 3
    assert await accounts.consume("tenant:t", "2026-11", "messages", 5, 60, 2) == 5


async def test_concurrent_leases_never_pass_the_limit(accounts: AccountStore) -> None:
    """Each lease takes at most half of what is left beyond what it needs, so the units
    run out in ever smaller blocks, and never past the limit."""
    assert await accounts.lease("u:t", "m1", "requests", 100, 60, 1, 80) == (50, 50)
    assert await accounts.lease("u:t", "m1", "requests", 100, 60, 1, 5) == (5, 55)
    assert await accounts.lease("u:t", "m1", "requests", 100, 60, 40, 60) == (40, 95)
    got = await asyncio.gather(*(accounts.lease("u:t", "m1", "requests", 100, 60, 1, 50)
                                 for _ in range(40)))
    assert sum(g[0] for g in got if g is not None) == 5
    assert await accounts.counters("u:t", "m1") == {"requests": 100}
    assert await accounts.lease("u:t", "m1", "requests", 100, 60, 1, 50) is None
    assert await accounts.lease("u:t", "m1", "free", None, 60, 1, 50) == (50, 50)


async def test_concurrent_claims_stop_at_the_limit(accounts: AccountStore) -> None:
    finished: set[str] = set()

    def ended(holder: str, since: float) -> bool:
        return holder in finished

    results = await asyncio.gather(*(accounts.claim("batches:t", f"b{i}", 3, 3600, ended)
                                     for i in range(8)))
    assert results.count(True) == 3
    held = [f"b{i}" for i, ok in enumerate(results) if ok]
    assert not await accounts.claim("batches:t", "late", 3, 3600, ended)
    finished.add(held[0])  # a batch ends: its place is free
    assert await accounts.claim("batches:t", "late", 3, 3600, ended)
    assert not await accounts.claim("batches:t", "later", 3, 3600, ended)
    await accounts.unclaim("batches:t", held[1])
    assert await accounts.claim("batches:t", "later", 3, 3600, ended)
    assert await accounts.claim("batches:other", "x", 3, 3600, ended), "scopes apart"
    await asyncio.sleep(1.1)  # every claim is older than a second
    assert await accounts.claim("batches:t", "after", 1, 1, ended)


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


async def test_a_database_with_global_emails_is_migrated(tmp_path: Path) -> None:
    """A file made when emails were unique across tenants: its users are kept, and the
    address may now be a user of another tenant too."""
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (tenant_id TEXT NOT NULL, id TEXT NOT NULL, email TEXT "
                   "NOT NULL UNIQUE, role TEXT NOT NULL, password_hash TEXT NOT NULL, "
                   "created REAL NOT NULL, PRIMARY KEY (tenant_id, id))")
        db.execute("INSERT INTO users VALUES ('t1','u1','a@x.io','owner','h',1.0)")
        db.execute("CREATE TABLE api_keys (prefix TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, "
                   "user_id TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, "
                   "created REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO api_keys VALUES ('p1','t1','u1','k','d',1.0,0)")
    store = SQLiteAccountStore(path)
    await store.start()
    try:
        assert [u.id for u in await store.users_by_email("a@x.io")] == ["u1"]
        assert await store.create_user(User("t2", "u2", "a@x.io", "member", "h", utcnow()))
        key = await store.get_key("p1")
        assert key is not None and key.scopes is None
    finally:
        await store.close()
