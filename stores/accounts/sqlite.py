"""SQLite account store, beside the conversations in the same database file.

Counters, leases and claims are read and changed inside one write transaction (its
first statement writes, so SQLite's one writer lock is held from the start): every
process on the file sees one count."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stores.accounts.base import ApiKey, Role, Share, Tenant, User, grant
from stores.purge import PeriodicPurge
from stores.sqlite_thread import SQLiteThread

__all__ = ("SQLiteAccountStore",)

# Emails are unique per tenant; the same address may be a user of several tenants.
_USERS = """tenant_id TEXT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL,
    role TEXT NOT NULL, password_hash TEXT NOT NULL, created REAL NOT NULL,
    sessions_after REAL NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)"""
_USER_COLUMNS = "tenant_id, id, email, role, password_hash, created"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL,
    plan TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users ({USERS});
CREATE TABLE IF NOT EXISTS api_keys (prefix TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, created REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, scopes TEXT, expires REAL);
CREATE TABLE IF NOT EXISTS revoked_sessions (sid TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS claims (scope TEXT NOT NULL, holder TEXT NOT NULL,
    since REAL NOT NULL, PRIMARY KEY (scope, holder));
CREATE TABLE IF NOT EXISTS refresh_tokens (jti TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS shares (token TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS shares_by_conversation
    ON shares (tenant_id, conversation_id);
CREATE TABLE IF NOT EXISTS credentials (tenant_id TEXT NOT NULL, provider TEXT NOT NULL,
    ciphertext TEXT NOT NULL, PRIMARY KEY (tenant_id, provider));
CREATE TABLE IF NOT EXISTS tenant_settings (tenant_id TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (tenant_id, name));
CREATE TABLE IF NOT EXISTS bookmarks (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL, PRIMARY KEY (tenant_id, user_id, conversation_id));
CREATE TABLE IF NOT EXISTS counted (marker TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS usage_counters (scope TEXT NOT NULL, window TEXT NOT NULL,
    name TEXT NOT NULL, n INTEGER NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (scope, window, name));
""".replace("{USERS}", _USERS)


def _migrate(db: sqlite3.Connection) -> None:
    """Databases made before emails were unique per tenant (a global UNIQUE on
    ``users.email``) get the table rebuilt; before keys had scopes, the columns."""
    if "sessions_after" not in {r[1] for r in db.execute("PRAGMA table_info(users)")}:
        db.execute(f"CREATE TABLE users_v2 ({_USERS})")
        db.execute(f"INSERT INTO users_v2 ({_USER_COLUMNS}) SELECT {_USER_COLUMNS} FROM users")
        db.execute("DROP TABLE users")
        db.execute("ALTER TABLE users_v2 RENAME TO users")
    db.execute("CREATE INDEX IF NOT EXISTS users_by_email ON users (email)")
    columns = {r[1] for r in db.execute("PRAGMA table_info(api_keys)")}
    for column, kind in (("scopes", "TEXT"), ("expires", "REAL")):
        if column not in columns:
            db.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {kind}")


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _user(r: Any) -> User:
    return User(r[0], r[1], r[2], r[3], r[4], _dt(r[5]), float(r[6]))


def _key(r: Any) -> ApiKey:
    return ApiKey(r[0], r[1], r[2], r[3], r[4], _dt(r[5]), bool(r[6]),
                  tuple(r[7].split()) if r[7] is not None else None,
                  _dt(r[8]) if r[8] is not None else None)


class SQLiteAccountStore:
    def __init__(self, path: Path) -> None:
        # synchronous stays at SQLite's default (FULL) for the accounts.
        self._db = SQLiteThread(path, _SCHEMA, name="sqlite account store",
                                thread_name="sqlite-accounts",
                                pragmas=("journal_mode=WAL", "busy_timeout=5000"))
        self._purge = PeriodicPurge("account rows", self.purge_expired)

    async def start(self) -> None:
        await self._db.start()
        await self._db.run(_migrate)
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
                       for table in ("refresh_tokens", "counted", "usage_counters",
                                     "revoked_sessions"))
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
            "INSERT OR IGNORE INTO users VALUES (?,?,?,?,?,?,?)",
            (user.tenant_id, user.id, user.email, user.role, user.password_hash,
             user.created_at.timestamp(), user.sessions_after)))
        return cur.rowcount == 1

    _USER = f"SELECT {_USER_COLUMNS}, sessions_after FROM users "

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        r = await self._db.run(lambda db: db.execute(
            self._USER + "WHERE tenant_id=? AND id=?", (tenant_id, user_id)).fetchone())
        return _user(r) if r else None

    async def users_by_email(self, email: str) -> list[User]:
        rows = await self._db.run(lambda db: db.execute(
            self._USER + "WHERE email=? ORDER BY created", (email,)).fetchall())
        return [_user(r) for r in rows]

    async def update_user(self, tenant_id: str, user_id: str, *, role: Role | None = None,
                          password_hash: str | None = None,
                          sessions_after: float | None = None) -> User | None:
        changes = {k: v for k, v in (("role", role), ("password_hash", password_hash),
                                     ("sessions_after", sessions_after)) if v is not None}
        if changes:
            sets = ", ".join(f"{k}=?" for k in changes)
            await self._db.run(lambda db: db.execute(
                f"UPDATE users SET {sets} WHERE tenant_id=? AND id=?",
                (*changes.values(), tenant_id, user_id)))
        return await self.get_user(tenant_id, user_id)

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        cur = await self._db.run(lambda db: db.execute(
            "DELETE FROM users WHERE tenant_id=? AND id=?", (tenant_id, user_id)))
        return cur.rowcount == 1

    async def revoke_session(self, session_id: str, ttl_s: int) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT OR REPLACE INTO revoked_sessions VALUES (?,?)",
            (session_id, time.time() + ttl_s)))

    async def session_revoked(self, session_id: str) -> bool:
        r = await self._db.run(lambda db: db.execute(
            "SELECT 1 FROM revoked_sessions WHERE sid=? AND expires>?",
            (session_id, time.time())).fetchone())
        return r is not None

    async def list_users(self, tenant_id: str) -> list[User]:
        rows = await self._db.run(lambda db: db.execute(
            self._USER + "WHERE tenant_id=? ORDER BY created", (tenant_id,)).fetchall())
        return [_user(r) for r in rows]

    # -- keys and refresh tokens -----------------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?,?,?)",
            (key.prefix, key.tenant_id, key.user_id, key.name, key.digest,
             key.created_at.timestamp(), int(key.revoked),
             " ".join(key.scopes) if key.scopes is not None else None,
             key.expires_at.timestamp() if key.expires_at is not None else None)))

    _KEY = ("SELECT prefix, tenant_id, user_id, name, digest, created, revoked, scopes, "
            "expires FROM api_keys ")

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

    async def set_tenant_setting(self, tenant_id: str, name: str, value: str) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT OR REPLACE INTO tenant_settings VALUES (?,?,?)", (tenant_id, name, value)))

    async def tenant_settings(self, tenant_id: str) -> dict[str, str]:
        rows = await self._db.run(lambda db: db.execute(
            "SELECT name, value FROM tenant_settings WHERE tenant_id=?",
            (tenant_id,)).fetchall())
        return {r[0]: r[1] for r in rows}

    # -- counters --------------------------------------------------------------------

    def _take(self, scope: str, window: str, name: str, limit: int | None, ttl_s: int,
              least: int, most: int) -> Callable[[sqlite3.Connection], tuple[int, int] | None]:
        """One transaction taking :func:`grant`'s units: (taken, new count) or None."""
        def run(db: sqlite3.Connection) -> tuple[int, int] | None:
            now = time.time()
            key = (scope, window, name)
            # A write first: the transaction holds the writer lock before it reads.
            db.execute("DELETE FROM usage_counters WHERE scope=? AND window=? AND name=? "
                       "AND expires<?", (*key, now))
            db.execute("INSERT OR IGNORE INTO usage_counters VALUES (?,?,?,0,?)",
                       (*key, now + ttl_s))
            used = int(db.execute("SELECT n FROM usage_counters WHERE scope=? AND window=? "
                                  "AND name=?", key).fetchone()[0])
            taken = grant(limit, used, least, most)
            if taken is None:
                return None
            db.execute("UPDATE usage_counters SET n=n+? WHERE scope=? AND window=? AND "
                       "name=?", (taken, *key))
            return taken, used + taken
        return run

    async def consume(self, scope: str, window: str, name: str, limit: int | None,
                      ttl_s: int, amount: int = 1) -> int | None:
        done = await self._db.run(self._take(scope, window, name, limit, ttl_s, amount,
                                             amount))
        return done[1] if done is not None else None

    async def lease(self, scope: str, window: str, name: str, limit: int | None,
                    ttl_s: int, least: int, most: int) -> tuple[int, int] | None:
        return await self._db.run(self._take(scope, window, name, limit, ttl_s, least, most))

    async def claim(self, scope: str, holder: str, limit: int, ttl_s: int,
                    ended: Callable[[str, float], bool]) -> bool:
        held = await self._db.run(lambda db: db.execute(
            "SELECT holder, since FROM claims WHERE scope=?", (scope,)).fetchall())
        # Asked here, on the event loop, where what ``ended`` reads lives; a holder
        # that has ended stays ended, so letting it go in the next transaction is safe.
        gone = [h for h, since in held if ended(h, since)]

        def run(db: sqlite3.Connection) -> bool:
            now = time.time()
            db.execute("DELETE FROM claims WHERE scope=? AND since<?", (scope, now - ttl_s))
            db.executemany("DELETE FROM claims WHERE scope=? AND holder=?",
                           [(scope, h) for h in gone])
            count = db.execute("SELECT COUNT(*) FROM claims WHERE scope=?",
                               (scope,)).fetchone()[0]
            if count >= limit:
                return False
            db.execute("INSERT OR REPLACE INTO claims VALUES (?,?,?)", (scope, holder, now))
            return True
        return await self._db.run(run)

    async def unclaim(self, scope: str, holder: str) -> None:
        await self._db.run(lambda db: db.execute(
            "DELETE FROM claims WHERE scope=? AND holder=?", (scope, holder)))

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
