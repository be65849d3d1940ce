"""The Cassandra account store's counters and claims: what every edge replica checks and
takes through atomically.

Counters are Cassandra lightweight transactions, not Cassandra counters (which cannot
check and count in one step): a compare-and-set loop ``UPDATE ... SET n = ? IF n = ?``.
Each write also names its writer, so an attempt that times out (Paxos contention) is
settled by a SERIAL read instead of being guessed: a count is never lost or doubled.
A claim row holds a scope's holders and a version, changed by compare-and-set on the
version."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cassandra import ConsistencyLevel

from kernel.errors import StoreUnavailable
from stores.accounts.base import grant

if TYPE_CHECKING:
    from stores.cassandra import CassandraSession

__all__ = ("TABLES", "CassandraCounters")

TABLES = (
    "CREATE TABLE IF NOT EXISTS counted (marker text PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS usage_counters (scope text, win text, name text, n int, "
    "writer text, PRIMARY KEY ((scope, win), name))",
    "CREATE TABLE IF NOT EXISTS claims (scope text PRIMARY KEY, holders map<text, double>, "
    "version int)",
)
_CAS_TRIES = 200

_STATEMENTS = {
    "counted": ("INSERT INTO counted (marker) VALUES (?) IF NOT EXISTS USING TTL ?", False),
    "count_get": ("SELECT n, writer FROM usage_counters WHERE scope=? AND win=? AND name=?",
                  True),
    "count_ins": ("INSERT INTO usage_counters (scope, win, name, n, writer) "
                  "VALUES (?,?,?,?,?) IF NOT EXISTS USING TTL ?", False),
    "count_cas": ("UPDATE usage_counters USING TTL ? SET n=?, writer=? WHERE scope=? "
                  "AND win=? AND name=? IF n=?", False),
    "count_all": ("SELECT name, n FROM usage_counters WHERE scope=? AND win=?", True),
    "claims_get": ("SELECT holders, version FROM claims WHERE scope=?", True),
    "claims_ins": ("INSERT INTO claims (scope, holders, version) VALUES (?,?,1) "
                   "IF NOT EXISTS", False),
    "claims_cas": ("UPDATE claims SET holders=?, version=? WHERE scope=? IF version=?", False),
}


class CassandraCounters:
    def __init__(self, session: CassandraSession) -> None:
        self._db = session
        self._q: dict[str, Any] = {}

    async def start(self) -> None:
        for cql in TABLES:
            await self._db.execute(cql)
        for name, (cql, idempotent) in _STATEMENTS.items():
            self._q[name] = await self._db.prepare(cql, idempotent=idempotent)
        serial = await self._db.prepare(_STATEMENTS["count_get"][0])
        serial.consistency_level = ConsistencyLevel.SERIAL
        self._q["count_serial"] = serial

    async def _x(self, name: str, *params: Any) -> list[dict[str, Any]]:
        return await self._db.execute(self._q[name], params)

    # -- counters --------------------------------------------------------------------

    async def _settle(self, key: tuple[str, str, str], writer: str) -> int | None:
        """After a timed-out write: the SERIAL read finishes any Paxos round under way,
        so it tells for certain whether our write is the one in place."""
        rows = await self._x("count_serial", *key)
        if rows and rows[0]["writer"] == writer:
            return int(rows[0]["n"])
        return None

    async def take(self, scope: str, window: str, name: str, limit: int | None,
                   ttl_s: int, least: int, most: int) -> tuple[int, int] | None:
        """:func:`grant`'s units taken by compare-and-set: (taken, new count) or None."""
        key = (scope, window, name)
        rows = await self._x("count_get", *key)
        current: int | None = int(rows[0]["n"]) if rows else None
        for _ in range(_CAS_TRIES):
            taken = grant(limit, current or 0, least, most)
            if taken is None:
                return None
            writer = uuid.uuid4().hex
            try:
                if current is None:
                    rows = await self._x("count_ins", *key, taken, writer, ttl_s)
                else:
                    rows = await self._x("count_cas", ttl_s, current + taken, writer, *key,
                                         current)
            except StoreUnavailable:
                settled = await self._settle(key, writer)
                if settled is not None:
                    return taken, settled
                rows = await self._x("count_get", *key)
                current = int(rows[0]["n"]) if rows else None
                continue
            if rows and rows[0]["[applied]"]:
                return taken, (current or 0) + taken
            current = int(rows[0]["n"]) if rows and rows[0].get("n") is not None else None
        raise StoreUnavailable(f"counter {scope}/{window}/{name}: too much contention")

    async def add_once(self, marker: str, scope: str, window: str, name: str, amount: int,
                       ttl_s: int) -> bool:
        # The marker first: a crash between the two writes under-counts one answer
        # rather than counting a redelivered one twice.
        rows = await self._x("counted", marker, ttl_s)
        if rows and not rows[0]["[applied]"]:
            return False
        await self.take(scope, window, name, None, ttl_s, amount, amount)
        return True

    async def counters(self, scope: str, window: str) -> dict[str, int]:
        return {r["name"]: int(r["n"]) for r in await self._x("count_all", scope, window)}

    # -- claims ----------------------------------------------------------------------

    async def _change_claims(self, scope: str,
                             change: Callable[[dict[str, float]], dict[str, float] | None],
                             ) -> bool:
        """Apply ``change`` to the scope's holders by compare-and-set on the version;
        ``False`` when ``change`` refuses (returns None)."""
        for _ in range(_CAS_TRIES):
            rows = await self._x("claims_get", scope)
            held: dict[str, float] = dict(rows[0]["holders"] or {}) if rows else {}
            changed = change(held)
            if changed is None:
                return False
            if not rows:
                applied = await self._x("claims_ins", scope, changed)
            else:
                version = int(rows[0]["version"])
                applied = await self._x("claims_cas", changed, version + 1, scope, version)
            if applied and applied[0]["[applied]"]:
                return True
        raise StoreUnavailable(f"claims {scope}: too much contention")

    async def claim(self, scope: str, holder: str, limit: int, ttl_s: int,
                    ended: Callable[[str, float], bool]) -> bool:
        def change(held: dict[str, float]) -> dict[str, float] | None:
            now = time.time()
            live = {h: since for h, since in held.items()
                    if since >= now - ttl_s and not ended(h, since)}
            if len(live) >= limit:
                return None
            return {**live, holder: now}
        return await self._change_claims(scope, change)

    async def unclaim(self, scope: str, holder: str) -> None:
        def change(held: dict[str, float]) -> dict[str, float] | None:
            return {h: s for h, s in held.items() if h != holder} if holder in held else None
        await self._change_claims(scope, change)
