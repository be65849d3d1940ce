"""SQLite account store, beside the conversations in the same database file.

Counters are checked and counted by one conditional ``UPDATE ... WHERE n + ? <= limit``
inside a write transaction, so every process on the file sees one count."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stores.accounts.base import ApiKey, Share, Tenant, User
from stores.purge import PeriodicPurge
from stores.sqlite_thread import SQLiteThread

__all__ = ("SQLiteAccountStore",)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL,
    plan TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users (tenant_id TEXT NOT NULL, id TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE IF NOT EXISTS api_keys (prefix TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, created REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS refresh_tokens (jti TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS shares (token TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS shares_by_conversation
    ON shares (tenant_id, conversation_id);
CREATE TABLE IF NOT EXISTS credentials (tenant_id TEXT NOT NULL, provider TEXT NOT NULL,
    ciphertext TEXT NOT NULL, PRIMARY KEY (tenant_id, provider));
CREATE TABLE IF NOT EXISTS bookmarks (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL, PRIMARY KEY (tenant_id, user_id, conversation_id));
CREATE TABLE IF NOT EXISTS counted (marker TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS usage_counters (scope TEXT NOT NULL, window TEXT NOT NULL,
    name TEXT NOT NULL, n INTEGER NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (scope, window, name));
"""


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _user(r: Any) -> User:
    return User(r[0], r[1], r[2], r[3], r[4], _dt(r[5]))


def _key(r: Any) -> ApiKey:
    return ApiKey(r[0], r[1], r[2], r[3], r[4], _dt(r[5]), bool(r[6]))


class SQLiteAccountStore:
    def __init__(self, path: Path) -> None:
        # synchronous stays at SQLite's default (FULL) for the accounts.
        self._db = SQLiteThread(path, _SCHEMA, name="sqlite account store",
                                thread_name="sqlite-accounts",
                                pragmas=("journal_mode=WAL", "busy_timeout=5000"))
        self._purge = PeriodicPurge("account rows", self.purge_expired)

    async def start(self) -> None:
        await self._db.start()
        self._purge.start()

    async def close(self) -> None:
        await self._purge.stop()
        await self._db.close()

    async def purge_expired(self) -> int:
        """Delete expired refresh tokens, usage markers and counters (their reads ignore
        them already); the number of rows deleted."""
        def run(db: sqlite3.Connection) -> int:
            now = time.time()
            return sum(db.execute(f"DELETE FROM {table} WHERE expires<?", (now,)).rowcount
                       for table in ("refresh_tokens", "counted", "usage_counters"))
        return await self._db.run(run)

    # -- tenants and users -----------------------------------------------------------

    async def create_tenant(self, tenant: Tenant) -> bool:
        cur = await self._db.run(lambda db: db.execute(
            "INSERT OR IGNORE INTO tenants VALUES (?,?,?,?)",
            (tenant.id, tenant.name, tenant.plan, tenant.created_at.timestamp())))
        return cur.rowcount == 1

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        r = await self._db.run(lambda db: db.execute(
            "SELECT id, name, plan, created FROM tenants WHERE id=?", (tenant_id,)).fetchone())
        return Tenant(r[0], r[1], r[2], _dt(r[3])) if r else None

    async def set_plan(self, tenant_id: str, plan: str) -> None:
        await self._db.run(lambda db: db.execute("UPDATE tenants SET plan=? WHERE id=?",
                                                 (plan, tenant_id)))

    async def create_user(self, user: User) -> bool:
        cur = await self._db.run(lambda db: db.execute(
            "INSERT OR IGNORE INTO users VALUES (?,?,?,?,?,?)",
            (user.tenant_id, user.id, user.email, user.role, user.password_hash,
             user.created_at.timestamp())))
        return cur.rowcount == 1

    _USER = "SELECT tenant_id, id, email, role, password_hash, created FROM users "

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        r = await self._db.run(lambda db: db.execute(
            self._USER + "WHERE tenant_id=? AND id=?", (tenant_id, user_id)).fetchone())
        return _user(r) if r else None

    async def user_by_email(self, email: str) -> User | None:
        r = await self._db.run(lambda db: db.execute(self._USER + "WHERE email=?",
                                                     (email,)).fetchone())
        return _user(r) if r else None

    async def list_users(self, tenant_id: str) -> list[User]:
        rows = await self._db.run(lambda db: db.execute(
            self._USER + "WHERE tenant_id=? ORDER BY created", (tenant_id,)).fetchall())
        return [_user(r) for r in rows]

    # -- keys and refresh tokens -----------------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?)",
            (key.prefix, key.tenant_id, key.user_id, key.name, key.digest,
             key.created_at.timestamp(), int(key.revoked))))

    _KEY = "SELECT prefix, tenant_id, user_id, name, digest, created, revoked FROM api_keys "

    async def get_key(self, prefix: str) -> ApiKey | None:
        r = await self._db.run(lambda db: db.execute(self._KEY + "WHERE prefix=?",
                                                     (prefix,)).fetchone())
        return _key(r) if r else None

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        rows = await self._db.run(lambda db: db.execute(
            self._KEY + "WHERE tenant_id=? ORDER BY created", (tenant_id,)).fetchall())
        return [_key(r) for r in rows]

    async def revoke_key(self, tenant_id: str, prefix: str) -> bool:
        cur = await self._db.run(lambda db: db.execute(
            "UPDATE api_keys SET revoked=1 WHERE tenant_id=? AND prefix=?", (tenant_id, prefix)))
        return cur.rowcount == 1

    async def add_refresh(self, jti: str, user_id: str, ttl_s: int) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT INTO refresh_tokens VALUES (?,?,0,?)", (jti, user_id, time.time() + ttl_s)))

    async def use_refresh(self, jti: str) -> bool:
        cur = await self._db.run(lambda db: db.execute(
            "UPDATE refresh_tokens SET used=1 WHERE jti=? AND used=0 AND expires>?",
            (jti, time.time())))
        return cur.rowcount == 1

    # -- shares ----------------------------------------------------------------------

    async def create_share(self, share: Share) -> Share:
        await self._db.run(lambda db: db.execute(
            "INSERT OR IGNORE INTO shares VALUES (?,?,?)",
            (share.token, share.tenant_id, share.conversation_id)))
        return await self.share_of(share.tenant_id, share.conversation_id) or share

    async def get_share(self, token: str) -> Share | None:
        r = await self._db.run(lambda db: db.execute(
            "SELECT token, tenant_id, conversation_id FROM shares WHERE token=?",
            (token,)).fetchone())
        return Share(r[0], r[1], r[2]) if r else None

    async def share_of(self, tenant_id: str, conversation_id: str) -> Share | None:
        r = await self._db.run(lambda db: db.execute(
            "SELECT token, tenant_id, conversation_id FROM shares WHERE tenant_id=? AND "
            "conversation_id=?", (tenant_id, conversation_id)).fetchone())
        return Share(r[0], r[1], r[2]) if r else None

    async def delete_share(self, token: str) -> None:
        await self._db.run(lambda db: db.execute("DELETE FROM shares WHERE token=?", (token,)))

    async def set_bookmark(self, tenant_id: str, user_id: str, conversation_id: str,
                           on: bool) -> None:
        sql = ("INSERT OR IGNORE INTO bookmarks VALUES (?,?,?)" if on else
               "DELETE FROM bookmarks WHERE tenant_id=? AND user_id=? AND conversation_id=?")
        await self._db.run(lambda db: db.execute(sql, (tenant_id, user_id, conversation_id)))

    async def bookmarks(self, tenant_id: str, user_id: str) -> set[str]:
        rows = await self._db.run(lambda db: db.execute(
            "SELECT conversation_id FROM bookmarks WHERE tenant_id=? AND user_id=?",
            (tenant_id, user_id)).fetchall())
        return {r[0] for r in rows}

    async def set_credential(self, tenant_id: str, provider: str, ciphertext: str) -> None:
        await self._db.run(lambda db: db.execute("INSERT OR REPLACE INTO credentials VALUES "
                                                 "(?,?,?)", (tenant_id, provider, ciphertext)))

    async def credentials(self, tenant_id: str) -> dict[str, str]:
        rows = await self._db.run(lambda db: db.execute(
            "SELECT provider, ciphertext FROM credentials WHERE tenant_id=?",
            (tenant_id,)).fetchall())
        return {r[0]: r[1] for r in rows}

    # -- counters --------------------------------------------------------------------

    async def consume(self, scope: str, window: str, name: str, limit: int | None,
                      ttl_s: int, amount: int = 1) -> int | None:
        def run(db: sqlite3.Connection) -> int | None:
            now = time.time()
            db.execute("DELETE FROM usage_counters WHERE expires<?", (now,))
            db.execute("INSERT OR IGNORE INTO usage_counters VALUES (?,?,?,0,?)",
                       (scope, window, name, now + ttl_s))
            cur = db.execute(
                "UPDATE usage_counters SET n=n+? WHERE scope=? AND window=? AND name=? "
                "AND (? IS NULL OR n+? <= ?) RETURNING n",
                (amount, scope, window, name, limit, amount, limit))
            row = cur.fetchone()
            return int(row[0]) if row else None
        return await self._db.run(run)

    async def add_once(self, marker: str, scope: str, window: str, name: str, amount: int,
                       ttl_s: int) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            now = time.time()
            db.execute("DELETE FROM counted WHERE expires<?", (now,))
            if db.execute("INSERT OR IGNORE INTO counted VALUES (?,?)",
                          (marker, now + ttl_s)).rowcount != 1:
                return False
            db.execute("INSERT INTO usage_counters VALUES (?,?,?,?,?) ON CONFLICT "
                       "(scope, window, name) DO UPDATE SET n = n + excluded.n",
                       (scope, window, name, amount, now + ttl_s))
            return True
        return await self._db.run(run)

    async def counters(self, scope: str, window: str) -> dict[str, int]:
        rows = await self._db.run(lambda db: db.execute(
            "SELECT name, n FROM usage_counters WHERE scope=? AND window=? AND expires>?",
            (scope, window, time.time())).fetchall())
        return {r[0]: int(r[1]) for r in rows}
