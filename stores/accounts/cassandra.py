"""Cassandra account store; shares the conversation store's session and keyspace.

Counters are Cassandra lightweight transactions, not Cassandra counters (which cannot
check and count in one step): a compare-and-set loop ``UPDATE ... SET n = ? IF n = ?``.
Each write also names its writer, so an attempt that times out (Paxos contention) is
settled by a SERIAL read instead of being guessed: a count is never lost or doubled."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cassandra import ConsistencyLevel

from kernel.errors import StoreUnavailable
from stores.accounts.base import ApiKey, Share, Tenant, User

if TYPE_CHECKING:
    from stores.cassandra import CassandraSession

__all__ = ("CassandraAccountStore",)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS tenants (id text PRIMARY KEY, name text, plan text, "
    "created double)",
    "CREATE TABLE IF NOT EXISTS users (tenant_id text, id text, email text, role text, "
    "password_hash text, created double, PRIMARY KEY ((tenant_id), id))",
    "CREATE TABLE IF NOT EXISTS users_by_email (email text PRIMARY KEY, tenant_id text, "
    "id text)",
    "CREATE TABLE IF NOT EXISTS api_keys (prefix text PRIMARY KEY, tenant_id text, "
    "user_id text, name text, digest text, created double, revoked boolean)",
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
    "CREATE TABLE IF NOT EXISTS bookmarks (tenant_id text, user_id text, conversation_id "
    "text, PRIMARY KEY ((tenant_id, user_id), conversation_id))",
    "CREATE TABLE IF NOT EXISTS counted (marker text PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS usage_counters (scope text, win text, name text, n int, "
    "writer text, PRIMARY KEY ((scope, win), name))",
)
_CAS_TRIES = 200


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _user(r: dict[str, Any]) -> User:
    return User(r["tenant_id"], r["id"], r["email"], r["role"], r["password_hash"],
                _dt(r["created"]))


def _key(r: dict[str, Any]) -> ApiKey:
    return ApiKey(r["prefix"], r["tenant_id"], r["user_id"], r["name"], r["digest"],
                  _dt(r["created"]), bool(r["revoked"]))


class CassandraAccountStore:
    def __init__(self, session: CassandraSession) -> None:
        self._db = session
        self._q: dict[str, Any] = {}

    async def start(self) -> None:
        for cql in _TABLES:
            await self._db.execute(cql)
        statements = {
            "tenant_ins": ("INSERT INTO tenants (id, name, plan, created) VALUES (?,?,?,?) "
                           "IF NOT EXISTS", False),
            "tenant_get": ("SELECT id, name, plan, created FROM tenants WHERE id=?", True),
            "tenant_plan": ("UPDATE tenants SET plan=? WHERE id=?", True),
            "email_ins": ("INSERT INTO users_by_email (email, tenant_id, id) VALUES (?,?,?) "
                          "IF NOT EXISTS", False),
            "email_get": ("SELECT tenant_id, id FROM users_by_email WHERE email=?", True),
            "user_ins": ("INSERT INTO users (tenant_id, id, email, role, password_hash, "
                         "created) VALUES (?,?,?,?,?,?)", True),
            "user_get": ("SELECT * FROM users WHERE tenant_id=? AND id=?", True),
            "user_list": ("SELECT * FROM users WHERE tenant_id=?", True),
            "key_ins": ("INSERT INTO api_keys (prefix, tenant_id, user_id, name, digest, "
                        "created, revoked) VALUES (?,?,?,?,?,?,?)", True),
            "key_by_tenant": ("INSERT INTO api_keys_by_tenant (tenant_id, prefix) "
                              "VALUES (?,?)", True),
            "key_get": ("SELECT * FROM api_keys WHERE prefix=?", True),
            "key_list": ("SELECT prefix FROM api_keys_by_tenant WHERE tenant_id=?", True),
            "key_revoke": ("UPDATE api_keys SET revoked=true WHERE prefix=?", True),
            "refresh_ins": ("INSERT INTO refresh_tokens (jti, user_id, used) VALUES (?,?,false)"
                            " USING TTL ?", True),
            "refresh_ttl": ("SELECT TTL(user_id) AS ttl FROM refresh_tokens WHERE jti=?",
                            True),
            # With the row's remaining TTL: a cell written without one outlives the row's
            # other cells, and the table would keep every used token forever.
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
            "cred_set": ("INSERT INTO credentials (tenant_id, provider, ciphertext) "
                         "VALUES (?,?,?)", True),
            "cred_list": ("SELECT provider, ciphertext FROM credentials WHERE tenant_id=?",
                          True),
            "mark_on": ("INSERT INTO bookmarks (tenant_id, user_id, conversation_id) "
                        "VALUES (?,?,?)", True),
            "mark_off": ("DELETE FROM bookmarks WHERE tenant_id=? AND user_id=? AND "
                         "conversation_id=?", True),
            "marks": ("SELECT conversation_id FROM bookmarks WHERE tenant_id=? AND user_id=?",
                      True),
            "counted": ("INSERT INTO counted (marker) VALUES (?) IF NOT EXISTS USING TTL ?",
                        False),
            "count_get": ("SELECT n, writer FROM usage_counters WHERE scope=? AND win=? "
                          "AND name=?", True),
            "count_ins": ("INSERT INTO usage_counters (scope, win, name, n, writer) "
                          "VALUES (?,?,?,?,?) IF NOT EXISTS USING TTL ?", False),
            "count_cas": ("UPDATE usage_counters USING TTL ? SET n=?, writer=? WHERE scope=? "
                          "AND win=? AND name=? IF n=?", False),
            "count_all": ("SELECT name, n FROM usage_counters WHERE scope=? AND win=?",
                          True),
        }
        for name, (cql, idempotent) in statements.items():
            self._q[name] = await self._db.prepare(cql, idempotent=idempotent)
        serial = await self._db.prepare(statements["count_get"][0])
        serial.consistency_level = ConsistencyLevel.SERIAL
        self._q["count_serial"] = serial

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

    async def create_user(self, user: User) -> bool:
        rows = await self._x("email_ins", user.email, user.tenant_id, user.id)
        if rows and not rows[0]["[applied]"]:
            return False
        await self._x("user_ins", user.tenant_id, user.id, user.email, user.role,
                      user.password_hash, user.created_at.timestamp())
        return True

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        rows = await self._x("user_get", tenant_id, user_id)
        return _user(rows[0]) if rows else None

    async def user_by_email(self, email: str) -> User | None:
        rows = await self._x("email_get", email)
        return await self.get_user(rows[0]["tenant_id"], rows[0]["id"]) if rows else None

    async def list_users(self, tenant_id: str) -> list[User]:
        users = [_user(r) for r in await self._x("user_list", tenant_id)]
        return sorted(users, key=lambda u: u.created_at)

    # -- keys and refresh tokens -----------------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        await self._x("key_ins", key.prefix, key.tenant_id, key.user_id, key.name, key.digest,
                      key.created_at.timestamp(), key.revoked)
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

    # -- counters --------------------------------------------------------------------

    async def _settle(self, key: tuple[str, str, str], writer: str) -> int | None:
        """After a timed-out write: the SERIAL read finishes any Paxos round under way,
        so it tells for certain whether our write is the one in place."""
        rows = await self._x("count_serial", *key)
        if rows and rows[0]["writer"] == writer:
            return int(rows[0]["n"])
        return None

    async def consume(self, scope: str, window: str, name: str, limit: int | None,
                      ttl_s: int, amount: int = 1) -> int | None:
        if limit is not None and amount > limit:
            return None
        key = (scope, window, name)
        rows = await self._x("count_get", *key)
        current: int | None = int(rows[0]["n"]) if rows else None
        for _ in range(_CAS_TRIES):
            writer = uuid.uuid4().hex
            try:
                if current is None:
                    rows = await self._x("count_ins", *key, amount, writer, ttl_s)
                else:
                    if limit is not None and current + amount > limit:
                        return None
                    rows = await self._x("count_cas", ttl_s, current + amount, writer, *key,
                                         current)
            except StoreUnavailable:
                settled = await self._settle(key, writer)
                if settled is not None:
                    return settled
                rows = await self._x("count_get", *key)
                current = int(rows[0]["n"]) if rows else None
                continue
            if rows and rows[0]["[applied]"]:
                return amount if current is None else current + amount
            current = int(rows[0]["n"]) if rows and rows[0].get("n") is not None else None
        raise StoreUnavailable(f"counter {scope}/{window}/{name}: too much contention")

    async def add_once(self, marker: str, scope: str, window: str, name: str, amount: int,
                       ttl_s: int) -> bool:
        # The marker first: a crash between the two writes under-counts one answer
        # rather than counting a redelivered one twice.
        rows = await self._x("counted", marker, ttl_s)
        if rows and not rows[0]["[applied]"]:
            return False
        await self.consume(scope, window, name, None, ttl_s, amount)
        return True

    async def counters(self, scope: str, window: str) -> dict[str, int]:
        return {r["name"]: int(r["n"]) for r in await self._x("count_all", scope, window)}


