"""Cassandra statements per accepted message spent on quotas, by kind: the edge's limit
check as the message route runs it (``api.guards.limits.count``: requests a minute per
user, messages a month per tenant and per user, the month's tokens) with quota leases,
against the same check as it was before leases (each counter taken by its own
compare-and-set per message, replayed here statement for statement), on two edges
sharing a fresh keyspace of the real Cassandra, in the same run.

Each edge has a Cassandra session of its own, as two processes would; every statement
is counted by kind (conditional writes: lightweight transactions, the Paxos rounds the
issue is about; SERIAL reads; plain reads; plain writes). Every user of every tenant
(pro plan) sends ``--rate`` messages a minute for ``--duration`` seconds, alternating
between the edges (the worst case for leases: each edge holds its own). At the end the
leases are given back and the tallies written (shutdown); those statements count too.

    python -m bench.quota_writes [--tenants 4] [--users 4] [--rate 60] [--duration 120]
                                 [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from cassandra import ConsistencyLevel

from api.deps import Principal
from api.guards.limits import count, minute_window, month_window, plan_of
from api.services import EdgeServices
from bench.common import machine, table
from harness.servers import CASSANDRA, require
from kernel.settings import Settings
from schemas.events import utcnow
from schemas.plans import MONTH_TTL_S
from stores.accounts.base import Tenant
from stores.accounts.cassandra import CassandraAccountStore
from stores.accounts.leases import QuotaLeases
from stores.cassandra import CassandraSession


class CountingSession(CassandraSession):
    """A session that counts the statements it executes, by kind."""

    kinds: Counter[str]

    async def execute(self, statement: Any, params: Sequence[Any] | None = None,
                      ) -> list[dict[str, Any]]:
        cql = str(getattr(statement, "query_string", statement)).upper()
        serial = getattr(statement, "consistency_level", None) == ConsistencyLevel.SERIAL
        if " IF " in cql:
            kind = "conditional write"
        elif cql.startswith("SELECT"):
            kind = "serial read" if serial else "read"
        else:
            kind = "write"
        self.kinds[kind] += 1
        return await super().execute(statement, params)


@dataclass
class Edge:
    session: CountingSession
    services: EdgeServices
    leases: QuotaLeases


async def _edge(keyspace: str, settings: Settings) -> Edge:
    session = CountingSession.from_url(f"cassandra://{CASSANDRA}/{keyspace}")
    session.kinds = Counter()
    await session.start()
    store = CassandraAccountStore(session)
    await store.start()
    leases = QuotaLeases(store, lease_s=settings.quota_lease_s,
                         max_block=settings.quota_lease_max)
    await leases.start()
    # What count() reads of the edge's services: its settings, store and leases.
    services = cast(EdgeServices, SimpleNamespace(settings=settings, accounts=store,
                                                  leases=leases))
    session.kinds.clear()  # the schema's statements are not the hot path's
    return Edge(session, services, leases)


async def _count_before(services: EdgeServices, principal: Principal) -> None:
    """``count(services, principal, messages=1)`` as it ran before leases: the plan,
    then one compare-and-set per counter, then the month's tokens read."""
    store = services.accounts
    assert store is not None
    _, plan = await plan_of(services, principal.tenant_id)
    minute, _ = minute_window()
    user_scope = f"user:{principal.tenant_id}:{principal.user_id}"
    tenant_scope = f"tenant:{principal.tenant_id}"
    month, _ = month_window()
    assert await store.consume(user_scope, minute, "requests", plan.requests_per_minute,
                               120) is not None
    assert await store.consume(tenant_scope, month, "messages", plan.messages_per_month,
                               MONTH_TTL_S) is not None
    await store.consume(user_scope, month, "messages", None, MONTH_TTL_S)
    await store.counters(tenant_scope, month)


async def run(tenants: int, users: int, rate: float, duration: float,
              leased: bool) -> dict[str, float]:
    keyspace = f"bench_quota_{uuid.uuid4().hex[:8]}"
    settings = Settings(store=f"cassandra://{CASSANDRA}/{keyspace}")
    edges = [await _edge(keyspace, settings) for _ in range(2)]
    try:
        store = edges[0].services.accounts
        assert store is not None
        for t in range(tenants):
            await store.create_tenant(Tenant(f"t{t}", f"t{t}", "pro", utcnow()))
        for e in edges:
            e.session.kinds.clear()
        accepted = 0

        started = time.perf_counter()

        async def user(tenant: str, user_id: str, phase: float) -> None:
            nonlocal accepted
            principal = Principal(tenant, user_id, "member", metered=True)
            i = 0
            while (due := started + (i + phase) * 60 / rate) < started + duration:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                services = edges[i % 2].services
                if leased:
                    await count(services, principal, messages=1)
                else:
                    await _count_before(services, principal)
                accepted += 1
                i += 1

        # Each user at a phase of its own, as people are: not all in the same instant.
        phases = random.Random(1)
        await asyncio.gather(*(user(f"t{t}", f"u{u}", phases.random()) for t in range(tenants)
                               for u in range(users)))
        elapsed = time.perf_counter() - started
        hot = sum((e.session.kinds for e in edges), Counter[str]())
        for e in edges:
            await e.leases.close()
        ended = sum((e.session.kinds for e in edges), Counter[str]()) - hot
    finally:
        await edges[0].session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        for e in edges:
            await e.session.close()
    out = {f"{k} / message": hot[k] / accepted for k in
           ("conditional write", "serial read", "read", "write")}
    out["conditional writes at lease end / message"] = ended["conditional write"] / accepted
    out["conditional writes in all / message"] = (hot["conditional write"]
                                                  + ended["conditional write"]) / accepted
    out["accepted"] = accepted
    out["accepted / s"] = accepted / elapsed
    return out


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--users", type=int, default=4, help="users per tenant")
    parser.add_argument("--rate", type=float, default=60, help="messages a minute per user")
    parser.add_argument("--duration", type=float, default=120, help="seconds of sending")
    parser.add_argument("--quick", action="store_true", help="1 tenant, 2 users, 10 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.tenants, args.users, args.duration = 1, 2, 10
    require(CASSANDRA, "Cassandra")
    shape = (args.tenants, args.users, args.rate, args.duration)
    runs = {"before (a compare-and-set per counter)": await run(*shape, leased=False),
            "leases": await run(*shape, leased=True)}
    names = list(next(iter(runs.values())))
    print(f"# quota statements per accepted message ({machine()}; {args.tenants} tenants x "
          f"{args.users} users, {args.rate:g} messages a minute each for {args.duration:g} s, "
          "two edges, pro plan)\n")
    print(table(["", *runs], [[n, *(f"{r[n]:.3f}" if r[n] < 100 else f"{r[n]:.0f}"
                                     for r in runs.values())] for n in names]))


if __name__ == "__main__":
    asyncio.run(main())
