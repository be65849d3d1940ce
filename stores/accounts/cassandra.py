"""Cassandra account store; shares the conversation store's session and keyspace.

Users are found by email through ``user_emails`` (one row per tenant the address is a
user of); rows of the older ``users_by_email`` (one tenant per address) are still read.
Counters and claims: :mod:`stores.accounts.cassandra_counters`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cassandra import InvalidRequest

from stores.accounts.base import ApiKey, Role, Share, Tenant, User
from stores.accounts.cassandra_counters import CassandraCounters

if TYPE_CHECKING:
    from stores.cassandra import CassandraSession

__all__ = ("CassandraAccountStore",)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS tenants (id text PRIMARY KEY, name text, plan text, "
    "created double)",
    "CREATE TABLE IF NOT EXISTS users (tenant_id text, id text, email text, role text, "
    "password_hash text, created double, sessions_after double, "
    "PRIMARY KEY ((tenant_id), id))",
    "CREATE TABLE IF NOT EXISTS users_by_email (email text PRIMARY KEY, tenant_id text, "
    "id text)",
    "CREATE TABLE IF NOT EXISTS user_emails (email text, tenant_id text, id text, "
    "PRIMARY KEY ((email), tenant_id))",
    "CREATE TABLE IF NOT EXISTS revoked_sessions (sid text PRIMARY KEY, revoked boolean)",
    "CREATE TABLE IF NOT EXISTS api_keys (prefix text PRIMARY KEY, tenant_id text, "
    "user_id text, name text, digest text, created double, revoked boolean, scopes text, "
    "expires double)",
    "CREATE TABLE IF NOT EXISTS api_keys_by_tenant (tenant_id text, prefix text, "
    "PRIMARY KEY ((tenant_id), prefix))",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (jti text PRIMARY KEY, user_id text, "
    "used boolean)",
    "CREATE TABLE IF NOT EXISTS shares (share_token text PRIMARY KEY, tenant_id text, "
    "conversation_id text)",
    "CREATE TABLE IF NOT EXISTS shares_by_conversation (tenant_id text, conversation_id "
    "text, share_token text, PRIMARY KEY ((tenant_id), conversation_id))",
    "CREATE TABLE IF NOT EXISTS credentials (tenant_id text, provider text, ciphertext "
    "text, PRIMARY KEY ((tenant_id), provider))",
    "CREATE TABLE IF NOT EXISTS tenant_settings (tenant_id text, name text, value text, "
    "PRIMARY KEY (tenant_id, name))",
    "CREATE TABLE IF NOT EXISTS bookmarks (tenant_id text, user_id text, conversation_id "
    "text, PRIMARY KEY ((tenant_id, user_id), conversation_id))",
)
# Columns the tables made by earlier versions lack.
_ADDED = (("users", "sessions_after", "double"), ("api_keys", "scopes", "text"),
          ("api_keys", "expires", "double"))

_STATEMENTS = {
    "tenant_ins": ("INSERT INTO tenants (id, name, plan, created) VALUES (?,?,?,?) "
                   "IF NOT EXISTS", False),
    "tenant_get": ("SELECT id, name, plan, created FROM tenants WHERE id=?", True),
    "tenant_plan": ("UPDATE tenants SET plan=? WHERE id=?", True),
    "email_ins": ("INSERT INTO user_emails (email, tenant_id, id) VALUES (?,?,?) "
                  "IF NOT EXISTS", False),
    "email_get": ("SELECT tenant_id, id FROM user_emails WHERE email=?", True),
    "email_del": ("DELETE FROM user_emails WHERE email=? AND tenant_id=?", True),
    "legacy_email_get": ("SELECT tenant_id, id FROM users_by_email WHERE email=?", True),
    "legacy_email_del": ("DELETE FROM users_by_email WHERE email=?", True),
    "user_ins": ("INSERT INTO users (tenant_id, id, email, role, password_hash, created, "
                 "sessions_after) VALUES (?,?,?,?,?,?,?)", True),
    "user_get": ("SELECT * FROM users WHERE tenant_id=? AND id=?", True),
    "user_list": ("SELECT * FROM users WHERE tenant_id=?", True),
    "user_del": ("DELETE FROM users WHERE tenant_id=? AND id=?", True),
    "user_role": ("UPDATE users SET role=? WHERE tenant_id=? AND id=?", True),
    "user_password": ("UPDATE users SET password_hash=? WHERE tenant_id=? AND id=?", True),
    "user_sessions": ("UPDATE users SET sessions_after=? WHERE tenant_id=? AND id=?", True),
    "session_revoke": ("INSERT INTO revoked_sessions (sid, revoked) VALUES (?, true) "
                       "USING TTL ?", True),
    "session_get": ("SELECT revoked FROM revoked_sessions WHERE sid=?", True),
    "key_ins": ("INSERT INTO api_keys (prefix, tenant_id, user_id, name, digest, created, "
                "revoked, scopes, expires) VALUES (?,?,?,?,?,?,?,?,?)", True),
    "key_by_tenant": ("INSERT INTO api_keys_by_tenant (tenant_id, prefix) VALUES (?,?)", True),
    "key_get": ("SELECT * FROM api_keys WHERE prefix=?", True),
    "key_list": ("SELECT prefix FROM api_keys_by_tenant WHERE tenant_id=?", True),
    "key_revoke": ("UPDATE api_keys SET revoked=true WHERE prefix=?", True),
    "refresh_ins": ("INSERT INTO refresh_tokens (jti, user_id, used) VALUES (?,?,false) "
                    "USING TTL ?", True),
    "refresh_ttl": ("SELECT TTL(user_id) AS ttl FROM refresh_tokens WHERE jti=?", True),
    # With the row's remaining TTL: a cell written without one outlives the row's other
    # cells, and the table would keep every used token forever.
    "refresh_use": ("UPDATE refresh_tokens USING TTL ? SET used=true WHERE jti=? "
                    "IF used=false", False),
    "share_ins": ("INSERT INTO shares (share_token, tenant_id, conversation_id) "
                  "VALUES (?,?,?)", True),
    "share_get": ("SELECT * FROM shares WHERE share_token=?", True),
    "share_del": ("DELETE FROM shares WHERE share_token=?", True),
    "share_of_ins": ("INSERT INTO shares_by_conversation (tenant_id, conversation_id, "
                     "share_token) VALUES (?,?,?) IF NOT EXISTS", False),
    "share_of": ("SELECT share_token FROM shares_by_conversation WHERE tenant_id=? "
                 "AND conversation_id=?", True),
    "share_of_del": ("DELETE FROM shares_by_conversation WHERE tenant_id=? AND "
                     "conversation_id=?", True),
    "cred_set": ("INSERT INTO credentials (tenant_id, provider, ciphertext) VALUES (?,?,?)",
                 True),
    "cred_list": ("SELECT provider, ciphertext FROM credentials WHERE tenant_id=?", True),
    "setting_set": ("INSERT INTO tenant_settings (tenant_id, name, value) VALUES (?,?,?)",
                    True),
    "settings": ("SELECT name, value FROM tenant_settings WHERE tenant_id=?", True),
    "mark_on": ("INSERT INTO bookmarks (tenant_id, user_id, conversation_id) "
                "VALUES (?,?,?)", True),
    "mark_off": ("DELETE FROM bookmarks WHERE tenant_id=? AND user_id=? AND "
                 "conversation_id=?", True),
    "marks": ("SELECT conversation_id FROM bookmarks WHERE tenant_id=? AND user_id=?", True),
}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _user(r: dict[str, Any]) -> User:
    return User(r["tenant_id"], r["id"], r["email"], r["role"], r["password_hash"],
                _dt(r["created"]), float(r.get("sessions_after") or 0.0))


def _key(r: dict[str, Any]) -> ApiKey:
    scopes, expires = r.get("scopes"), r.get("expires")
    return ApiKey(r["prefix"], r["tenant_id"], r["user_id"], r["name"], r["digest"],
                  _dt(r["created"]), bool(r["revoked"]),
                  tuple(scopes.split()) if scopes is not None else None,
                  _dt(expires) if expires is not None else None)


class CassandraAccountStore:
    def __init__(self, session: CassandraSession) -> None:
        self._db = session
        self._q: dict[str, Any] = {}
        self._counters = CassandraCounters(session)

    async def start(self) -> None:
        for cql in _TABLES:
            await self._db.execute(cql)
        for table, column, kind in _ADDED:
            # Cassandra has no ADD IF NOT EXISTS: a column already there is refused.
            with contextlib.suppress(InvalidRequest):
                await self._db.execute(f"ALTER TABLE {table} ADD {column} {kind}")
        for name, (cql, idempotent) in _STATEMENTS.items():
            self._q[name] = await self._db.prepare(cql, idempotent=idempotent)
        await self._counters.start()

    async def close(self) -> None:
        return None  # the conversation store owns the session

    async def _x(self, name: str, *params: Any) -> list[dict[str, Any]]:
        return await self._db.execute(self._q[name], params)

    # -- tenants and users -----------------------------------------------------------

    async def create_tenant(self, tenant: Tenant) -> bool:
        rows = await self._x("tenant_ins", tenant.id, tenant.name, tenant.plan,
                             tenant.created_at.timestamp())
        return bool(rows and rows[0]["[applied]"])

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        rows = await self._x("tenant_get", tenant_id)
        if not rows:
            return None
        r = rows[0]
        return Tenant(r["id"], r["name"], r["plan"], _dt(r["created"]))

    async def set_plan(self, tenant_id: str, plan: str) -> None:
        await self._x("tenant_plan", plan, tenant_id)

    async def _email_rows(self, email: str) -> dict[str, str]:
        """The users with this email, as tenant id → user id."""
        found = {r["tenant_id"]: r["id"] for r in await self._x("legacy_email_get", email)}
        found.update({r["tenant_id"]: r["id"] for r in await self._x("email_get", email)})
        return found

    async def create_user(self, user: User) -> bool:
        if user.tenant_id in await self._email_rows(user.email):
            return False  # an older row (one tenant per address) holds it already
        rows = await self._x("email_ins", user.email, user.tenant_id, user.id)
        if rows and not rows[0]["[applied]"]:
            return False
        await self._x("user_ins", user.tenant_id, user.id, user.email, user.role,
                      user.password_hash, user.created_at.timestamp(), user.sessions_after)
        return True

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        rows = await self._x("user_get", tenant_id, user_id)
        return _user(rows[0]) if rows else None

    async def users_by_email(self, email: str) -> list[User]:
        users = [await self.get_user(tenant, uid)
                 for tenant, uid in (await self._email_rows(email)).items()]
        return sorted((u for u in users if u is not None), key=lambda u: u.created_at)

    async def list_users(self, tenant_id: str) -> list[User]:
        users = [_user(r) for r in await self._x("user_list", tenant_id)]
        return sorted(users, key=lambda u: u.created_at)

    async def update_user(self, tenant_id: str, user_id: str, *, role: Role | None = None,
                          password_hash: str | None = None,
                          sessions_after: float | None = None) -> User | None:
        if await self.get_user(tenant_id, user_id) is None:
            return None  # an UPDATE would make a row of the missing user
        for statement, value in (("user_role", role), ("user_password", password_hash),
                                 ("user_sessions", sessions_after)):
            if value is not None:
                await self._x(statement, value, tenant_id, user_id)
        return await self.get_user(tenant_id, user_id)

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        user = await self.get_user(tenant_id, user_id)
        if user is None:
            return False
        await self._x("email_del", user.email, tenant_id)
        legacy = await self._x("legacy_email_get", user.email)
        if legacy and (legacy[0]["tenant_id"], legacy[0]["id"]) == (tenant_id, user_id):
            await self._x("legacy_email_del", user.email)
        await self._x("user_del", tenant_id, user_id)
        return True

    async def revoke_session(self, session_id: str, ttl_s: int) -> None:
        await self._x("session_revoke", session_id, ttl_s)

    async def session_revoked(self, session_id: str) -> bool:
        return bool(await self._x("session_get", session_id))

    # -- keys and refresh tokens -----------------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        await self._x("key_ins", key.prefix, key.tenant_id, key.user_id, key.name, key.digest,
                      key.created_at.timestamp(), key.revoked,
                      " ".join(key.scopes) if key.scopes is not None else None,
                      key.expires_at.timestamp() if key.expires_at is not None else None)
        await self._x("key_by_tenant", key.tenant_id, key.prefix)

    async def get_key(self, prefix: str) -> ApiKey | None:
        rows = await self._x("key_get", prefix)
        return _key(rows[0]) if rows else None

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        keys = []
        for r in await self._x("key_list", tenant_id):
            key = await self.get_key(r["prefix"])
            if key is not None:
                keys.append(key)
        return sorted(keys, key=lambda k: k.created_at)

    async def revoke_key(self, tenant_id: str, prefix: str) -> bool:
        key = await self.get_key(prefix)
        if key is None or key.tenant_id != tenant_id:
            return False
        await self._x("key_revoke", prefix)
        return True

    async def add_refresh(self, jti: str, user_id: str, ttl_s: int) -> None:
        await self._x("refresh_ins", jti, user_id, ttl_s)

    async def use_refresh(self, jti: str) -> bool:
        found = await self._x("refresh_ttl", jti)
        if not found or not found[0]["ttl"]:
            return False  # unknown or expired
        rows = await self._x("refresh_use", int(found[0]["ttl"]), jti)
        return bool(rows and rows[0]["[applied]"])

    # -- shares ----------------------------------------------------------------------

    async def create_share(self, share: Share) -> Share:
        # The link first: a lookup that finds the pointer always finds what it points to.
        # The pointer is claimed once, so two racing shares leave one live link.
        await self._x("share_ins", share.token, share.tenant_id, share.conversation_id)
        rows = await self._x("share_of_ins", share.tenant_id, share.conversation_id,
                             share.token)
        if rows and not rows[0]["[applied]"]:
            await self._x("share_del", share.token)
            return await self.get_share(rows[0]["share_token"]) or share
        return share

    async def share_of(self, tenant_id: str, conversation_id: str) -> Share | None:
        rows = await self._x("share_of", tenant_id, conversation_id)
        return await self.get_share(rows[0]["share_token"]) if rows else None

    async def get_share(self, token: str) -> Share | None:
        rows = await self._x("share_get", token)
        return Share(rows[0]["share_token"], rows[0]["tenant_id"],
                     rows[0]["conversation_id"]) if rows else None

    async def delete_share(self, token: str) -> None:
        share = await self.get_share(token)
        if share is not None:
            await self._x("share_of_del", share.tenant_id, share.conversation_id)
        await self._x("share_del", token)

    async def set_bookmark(self, tenant_id: str, user_id: str, conversation_id: str,
                           on: bool) -> None:
        await self._x("mark_on" if on else "mark_off", tenant_id, user_id, conversation_id)

    async def bookmarks(self, tenant_id: str, user_id: str) -> set[str]:
        return {r["conversation_id"] for r in await self._x("marks", tenant_id, user_id)}

    async def set_credential(self, tenant_id: str, provider: str, ciphertext: str) -> None:
        await self._x("cred_set", tenant_id, provider, ciphertext)

    async def credentials(self, tenant_id: str) -> dict[str, str]:
        return {r["provider"]: r["ciphertext"] for r in await self._x("cred_list", tenant_id)}

    async def set_tenant_setting(self, tenant_id: str, name: str, value: str) -> None:
        await self._x("setting_set", tenant_id, name, value)

    async def tenant_settings(self, tenant_id: str) -> dict[str, str]:
        return {r["name"]: r["value"] for r in await self._x("settings", tenant_id)}

    # -- counters and claims: stores/accounts/cassandra_counters.py -------------------

    async def consume(self, scope: str, window: str, name: str, limit: int | None,
                      ttl_s: int, amount: int = 1) -> int | None:
        done = await self._counters.take(scope, window, name, limit, ttl_s, amount, amount)
        return done[1] if done is not None else None

    async def lease(self, scope: str, window: str, name: str, limit: int | None,
                    ttl_s: int, least: int, most: int) -> tuple[int, int] | None:
        return await self._counters.take(scope, window, name, limit, ttl_s, least, most)

    async def add_once(self, marker: str, scope: str, window: str, name: str, amount: int,
                       ttl_s: int) -> bool:
        return await self._counters.add_once(marker, scope, window, name, amount, ttl_s)

    async def counters(self, scope: str, window: str) -> dict[str, int]:
        return await self._counters.counters(scope, window)

    async def claim(self, scope: str, holder: str, limit: int, ttl_s: int,
                    ended: Callable[[str, float], bool]) -> bool:
        return await self._counters.claim(scope, holder, limit, ttl_s, ended)

    async def unclaim(self, scope: str, holder: str) -> None:
        await self._counters.unclaim(scope, holder)
