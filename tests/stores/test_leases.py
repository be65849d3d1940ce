"""Quota leases on the real account stores (SQLite and Cassandra): two leasing processes
on one store never spend more than the limit between them, give back what they did not
spend, and ask the store once per block rather than once per unit."""

from __future__ import annotations

import asyncio
import time

from stores.accounts.base import AccountStore
from stores.accounts.leases import QuotaLeases


class Counting:
    """The store, with its conditional writes counted (a lease or a give-back each)."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store
        self.writes = 0

    async def lease(self, *args: object) -> int | None:
        self.writes += 1
        return await self.store.lease(*args)  # type: ignore[arg-type]

    async def consume(self, *args: object) -> int | None:
        self.writes += 1
        return await self.store.consume(*args)  # type: ignore[arg-type]


def _edge(store: AccountStore | Counting, **options: float) -> QuotaLeases:
    return QuotaLeases(store, **options)  # type: ignore[arg-type]


async def test_two_edges_spend_exactly_the_limit_between_them(accounts: AccountStore) -> None:
    a, b = _edge(accounts), _edge(accounts)
    tries = [(a if i % 2 else b).take("user:t:u", "m1", "requests", 37, 120, 60)
             for i in range(100)]
    results = await asyncio.gather(*tries)
    assert results.count(True) == 37
    assert await accounts.counters("user:t:u", "m1") == {"requests": 37}
    assert not await a.take("user:t:u", "m1", "requests", 37, 120, 60)


async def test_unspent_units_go_back_when_the_lease_ends(accounts: AccountStore) -> None:
    a, b = _edge(accounts, lease_s=0.2), _edge(accounts, lease_s=0.2)
    assert await a.take("tenant:t", "2026-11", "messages", 100, 60, 3600)
    held = -a.unsettled("tenant:t", "2026-11")["messages"]
    assert held == 15  # a block of 16, one spent
    assert await accounts.counters("tenant:t", "2026-11") == {"messages": 1 + held}
    await asyncio.sleep(0.3)  # unused for longer than the lease
    assert await a.sweep() == held
    assert await accounts.counters("tenant:t", "2026-11") == {"messages": 1}
    # Shutdown gives back everything, whatever the lease's age.
    assert await b.take("tenant:t", "2026-11", "messages", 100, 60, 3600, amount=3)
    await b.close()
    assert await accounts.counters("tenant:t", "2026-11") == {"messages": 4}


async def test_a_busy_lease_is_kept_and_refilled_in_growing_blocks(
        accounts: AccountStore) -> None:
    counting = Counting(accounts)
    a = _edge(counting, lease_s=0.2)
    for _ in range(500):
        assert await a.take("tenant:t", "2026-11", "messages", 10_000, 60, 3600)
    # Blocks of 16, 32, 64, 128, 256: 6 writes for 500 units, none given back.
    assert counting.writes <= 7, counting.writes
    assert await a.sweep() == 0, "in use: not given back"
    await a.close()
    assert await accounts.counters("tenant:t", "2026-11") == {"messages": 500}


async def test_usage_with_no_limit_is_written_when_the_key_goes_quiet(
        accounts: AccountStore) -> None:
    counting = Counting(accounts)
    a = _edge(counting, lease_s=0.2)
    for _ in range(300):
        assert await a.take("user:t:u", "2026-11", "messages", None, 60, 3600)
    assert counting.writes == 0
    assert a.unsettled("user:t:u", "2026-11") == {"messages": 300}
    await asyncio.sleep(0.3)
    assert await a.sweep() == 300
    assert counting.writes == 1
    assert await accounts.counters("user:t:u", "2026-11") == {"messages": 300}


async def test_units_of_a_window_that_ended_are_dropped(accounts: AccountStore) -> None:
    a = _edge(accounts)
    assert await a.take("user:t:u", "m7", "requests", 100, 120, window_left_s=0.1)
    before = await accounts.counters("user:t:u", "m7")
    await asyncio.sleep(0.2)
    assert await a.sweep() == 0
    assert await accounts.counters("user:t:u", "m7") == before


async def test_a_low_limit_is_shared_in_small_blocks(accounts: AccountStore) -> None:
    """A lease takes at most half of what is left, so the other edge still gets units
    while the first holds some; once a grant leaves less than a block in the counter,
    the lease goes back after lease_s even while it is in use."""
    a, b = _edge(accounts, lease_s=0.2), _edge(accounts)
    assert await a.take("user:t:u", "m2", "requests", 8, 120, 60)
    assert a.unsettled("user:t:u", "m2") == {"requests": -3}  # 4 taken, 1 spent
    for _ in range(4):
        assert await b.take("user:t:u", "m2", "requests", 8, 120, 60)
    assert not await b.take("user:t:u", "m2", "requests", 8, 120, 60), "a holds the rest"
    for _ in range(6):  # a is asked all along (for more than it can get)
        await asyncio.sleep(0.05)
        assert not await a.take("user:t:u", "m2", "requests", 8, 120, 60, amount=5)
    assert await a.sweep() == 3, "given back though in use"
    await asyncio.sleep(1.1)  # b's note that the counter was empty runs out
    assert await b.take("user:t:u", "m2", "requests", 8, 120, 60)


async def test_a_refused_request_is_refused_locally_for_a_moment(
        accounts: AccountStore) -> None:
    counting = Counting(accounts)
    a = _edge(counting)
    assert not await a.take("tenant:t", "2026-11", "tokens", 10, 60, 3600, amount=50)
    writes = counting.writes
    started = time.monotonic()
    for _ in range(100):
        assert not await a.take("tenant:t", "2026-11", "tokens", 10, 60, 3600, amount=50)
    assert counting.writes == writes or time.monotonic() - started > 1
    # A smaller request still asks.
    assert await a.take("tenant:t", "2026-11", "tokens", 10, 60, 3600, amount=3)
