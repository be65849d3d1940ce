"""Quota leases: a process takes a block of a limit's units from the shared counter with
one conditional write, spends them locally, and gives back what is left when the lease
ends, so a limit costs one conditional write per block instead of one per request.

Leased units count as spent (the counter holds them), so "N allowed across replicas"
still holds exactly: the counter never passes N, whoever holds the units. What leasing
costs is the other way round: units one edge holds are not there for another until its
lease ends. So a lease ends when it has not been used for ``lease_s``, when its window
ends, on shutdown, and ``lease_s`` after a grant that left less than a block in the
shared counter (the limit is running low: the units go back to whoever needs them). A
lease never takes more than half of what is left beyond what the request needs
(:data:`stores.accounts.base.LEASE_SHARE`), so as a limit runs low, blocks shrink to
single units. Blocks grow (doubling, up to ``max_block``) each time a lease in use runs
dry and is refilled, and shrink (halving) each time units are given back.

Units of a window that has ended are worth nothing and are dropped; the others are
given back with one conditional write. A process that dies keeps its units spent: the
counter stays on the safe side of its limit.

A counter with no limit (a user's share of the tenant's usage, for admins) is not
leased: what is spent is added up here and written with one conditional write when the
key goes quiet for ``lease_s``, at most every :data:`FLUSH_S`, and on shutdown (a process
that dies loses at most that much of those figures; never of a limit).

Taking from a lease is synchronous on the event loop, so it is atomic without a lock;
a lease is refilled by one request at a time (the others wait for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from kernel.errors import StoreUnavailable
from stores.accounts.base import AccountStore

__all__ = ("FLUSH_S", "QuotaLeases")

log = logging.getLogger(__name__)

# After the store refused a refill, requests for that key needing as much are refused
# locally for this long instead of each asking the store again (a flood of refused
# requests costs no store round trip each).
EMPTY_S = 1.0
# Usage of a counter with no limit is written at least this often while it is spent.
FLUSH_S = 120.0
_MAX_BLOCKS_KEPT = 100_000


@dataclass(slots=True)
class _Lease:
    ttl_s: int
    window_ends: float  # wall time: after it, leased units are worth nothing
    limited: bool
    left: int = 0  # leased units not spent (limited counters)
    tally: int = 0  # units spent, not written yet (counters with no limit)
    since: float = 0.0  # when the first unwritten unit of the tally was spent
    idle_ends: float = math.inf  # pushed on at every take
    hard_ends: float = math.inf  # a short grant: back after lease_s whatever happens
    refilled_at: float = 0.0
    empty_until: float = 0.0
    refused_need: int = 0  # the smallest refill the store refused until empty_until
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def due(self, now: float) -> bool:
        if self.lock.locked():
            return False
        if not self.limited:
            return now >= self.idle_ends or now - self.since >= FLUSH_S
        return now >= min(self.idle_ends, self.hard_ends, self.window_ends)


Key = tuple[str, str, str]  # scope, window, counter name


class QuotaLeases:
    def __init__(self, store: AccountStore, *, lease_s: float = 10.0, first_block: int = 16,
                 max_block: int = 256) -> None:
        self._store = store
        self._lease_s = lease_s
        self._first_block = min(first_block, max_block)
        self._max_block = max_block
        self._leases: dict[Key, _Lease] = {}
        # The block size learned for each (scope, name), across windows and leases.
        self._blocks: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._sweeper: asyncio.Task[None] | None = None

    # -- spending --------------------------------------------------------------------

    async def take(self, scope: str, window: str, name: str, limit: int | None,
                   ttl_s: int, window_left_s: float, amount: int = 1) -> bool:
        """Spend ``amount`` units of counter ``(scope, window, name)`` under ``limit``;
        ``False`` (nothing spent) when they are not to be had. ``window_left_s``: how
        long the window has left; ``ttl_s``: how long the store keeps the counter."""
        if amount <= 0:
            return True
        key = (scope, window, name)
        now = time.time()
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = _Lease(ttl_s, now + window_left_s, limit is not None)
        lease.idle_ends = now + self._lease_s
        if limit is None:
            lease.since = lease.since if lease.tally else now
            lease.tally += amount
            return True
        if lease.left >= amount:
            lease.left -= amount
            return True
        if self._known_empty(lease, amount - lease.left, now):
            return False
        async with lease.lock:
            if lease.left >= amount:  # the refill another request was waiting for
                lease.left -= amount
                return True
            now = time.time()
            need = amount - lease.left
            if self._known_empty(lease, need, now):
                return False
            most = max(need, self._next_block((scope, name), lease))
            done = await self._store.lease(scope, window, name, limit, ttl_s, need, most)
            now = time.time()
            if done is None:
                if lease.empty_until <= now or need < lease.refused_need:
                    lease.refused_need = need
                lease.empty_until = now + EMPTY_S
                return False
            got, count = done
            if limit - count < most:  # running low: others may need what this holds
                lease.hard_ends = min(lease.hard_ends, now + self._lease_s)
            lease.refilled_at = now
            lease.left += got - amount
            return True

    @staticmethod
    def _known_empty(lease: _Lease, need: int, now: float) -> bool:
        return lease.empty_until > now and need >= lease.refused_need

    def put_back(self, scope: str, window: str, name: str, amount: int) -> None:
        """Units taken by a request that was then refused or failed: spendable again
        (they go back to the store with the rest of the lease)."""
        lease = self._leases.get((scope, window, name))
        if lease is None or amount <= 0:
            return
        if lease.limited:
            lease.left += amount
        else:
            lease.tally -= amount

    def unsettled(self, scope: str, window: str) -> dict[str, int]:
        """By counter name, what the store's count is off by from what was spent through
        this process: minus the units held unspent, plus the tally not written yet."""
        return {name: lease.tally - lease.left for (s, w, name), lease in
                self._leases.items() if s == scope and w == window and (lease.tally
                                                                       or lease.left)}

    def _next_block(self, key: tuple[str, str], lease: _Lease) -> int:
        block = self._blocks.pop(key, self._first_block)
        if lease.refilled_at:  # a lease in use ran dry: its blocks are too small
            block = min(2 * block, self._max_block)
        self._blocks[key] = block
        while len(self._blocks) > _MAX_BLOCKS_KEPT:
            self._blocks.popitem(last=False)
        return block

    # -- ending leases ---------------------------------------------------------------

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="quota-leases")

    async def close(self) -> None:
        """Give every lease back and write every tally (shutdown)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        try:
            await self.sweep(everything=True)
        except StoreUnavailable as exc:
            log.warning("quota leases: units left unspent stay counted: %s", exc)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._lease_s / 4))
            try:
                await self.sweep()
            except StoreUnavailable as exc:
                log.warning("quota leases: units not given back yet: %s", exc)

    async def sweep(self, everything: bool = False) -> int:
        """End the leases that are due (all of them with ``everything``): units of a
        window still running go back to the store, the others are dropped; tallies are
        written. The number of units given back or written."""
        now = time.time()
        due = [key for key, lease in self._leases.items()
               if not lease.lock.locked() and (everything or lease.due(now))]
        moved = 0
        for key in due:
            lease = self._leases.pop(key)
            scope, window, name = key
            if lease.tally:
                await self._store.consume(scope, window, name, None, lease.ttl_s, lease.tally)
                moved += lease.tally
            if lease.left <= 0 or now >= lease.window_ends:
                continue
            block = self._blocks.get((scope, name))
            if block is not None:  # units were left over: lease less next time
                self._blocks[(scope, name)] = max(1, block // 2)
            await self._store.consume(scope, window, name, None, lease.ttl_s, -lease.left)
            moved += lease.left
        return moved
