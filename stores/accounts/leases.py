"""Quota leases: a process takes a block of a limit's units from the shared counter with
one conditional write, spends them locally, and gives back what is left when the lease
ends, so a limit costs one conditional write per block instead of one per request.

Leased units count as spent (the counter holds them), so "N allowed across replicas"
still holds exactly: the counter never passes N, whoever holds the units. What leasing
costs is the other way round: units one edge holds are not there for another until its
lease ends. So a lease is short (``lease_s``), and takes at most a quarter of what is
left beyond what the request needs (:data:`stores.accounts.base.LEASE_SHARE`): when a
limit runs low, blocks shrink to single units. Blocks grow (doubling, up to
``max_block``) for keys spent faster than a lease lasts and shrink (halving) for keys
that give units back, so a busy key costs a conditional write per large block and a
quiet one a single unit.

A lease ends at ``lease_s`` or when its window does; units of a window that has ended
are worth nothing and are dropped, others are given back (one conditional write). On
shutdown every lease is given back. A process that dies keeps its units spent: the
counter stays on the safe side of its limit.

Taking from a lease is synchronous on the event loop, so it is atomic without a lock;
a lease is refilled by one request at a time (the others wait for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from kernel.errors import StoreUnavailable
from stores.accounts.base import AccountStore

__all__ = ("QuotaLeases",)

log = logging.getLogger(__name__)

# After the store refused a refill, requests for that key needing as much are refused
# locally for this long instead of each asking the store again (a flood of refused
# requests costs no store round trip each).
EMPTY_S = 1.0
_MAX_BLOCKS_KEPT = 100_000


@dataclass(slots=True)
class _Lease:
    ttl_s: int
    window_ends: float  # wall time: after it, the units are worth nothing
    left: int = 0  # units held, not spent
    ends: float = 0.0  # wall time the units left are given back (0: nothing leased yet)
    refilled_at: float = 0.0
    empty_until: float = 0.0
    refused_need: int = 0  # the smallest refill the store refused until empty_until
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


Key = tuple[str, str, str]  # scope, window, counter name


class QuotaLeases:
    def __init__(self, store: AccountStore, *, lease_s: float = 10.0, first_block: int = 4,
                 max_block: int = 256) -> None:
        self._store = store
        self._lease_s = lease_s
        self._first_block = first_block
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
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = _Lease(ttl_s, time.time() + window_left_s)
        if lease.left >= amount:
            lease.left -= amount
            return True
        if self._known_empty(lease, amount - lease.left, time.time()):
            return False
        async with lease.lock:
            if lease.left >= amount:  # the refill another request was waiting for
                lease.left -= amount
                return True
            now = time.time()
            need = amount - lease.left
            if self._known_empty(lease, need, now):
                return False
            block = self._next_block((scope, name), lease, now)
            got = await self._store.lease(scope, window, name, limit, ttl_s, need,
                                          max(need, block))
            now = time.time()
            if got is None:
                if lease.empty_until <= now or need < lease.refused_need:
                    lease.refused_need = need
                lease.empty_until = now + EMPTY_S
                return False
            if not lease.ends:
                lease.ends = min(now + self._lease_s, lease.window_ends)
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
        if lease is not None and amount > 0:
            lease.left += amount
            lease.ends = lease.ends or min(time.time() + self._lease_s, lease.window_ends)

    def held(self, scope: str, window: str) -> dict[str, int]:
        """Units this process holds unspent, by counter name (the store counts them as
        spent; a view of usage subtracts them)."""
        return {name: lease.left for (s, w, name), lease in self._leases.items()
                if s == scope and w == window and lease.left}

    def _next_block(self, key: tuple[str, str], lease: _Lease, now: float) -> int:
        block = self._blocks.pop(key, self._first_block)
        if lease.refilled_at and now - lease.refilled_at < self._lease_s / 2:
            block = min(2 * block, self._max_block)  # the last block went fast
        self._blocks[key] = block
        while len(self._blocks) > _MAX_BLOCKS_KEPT:
            self._blocks.popitem(last=False)
        return block

    # -- ending leases ---------------------------------------------------------------

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="quota-leases")

    async def close(self) -> None:
        """Give every lease back (shutdown)."""
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
        window still running go back to the store, the others are dropped. The number
        of units given back."""
        now = time.time()
        due = [key for key, lease in self._leases.items()
               if not lease.lock.locked() and (
                   everything or now >= lease.window_ends
                   or (lease.ends and now >= lease.ends)
                   or (not lease.ends and now >= lease.empty_until))]
        given = 0
        for key in due:
            lease = self._leases.pop(key)
            if lease.left <= 0 or now >= lease.window_ends:
                continue
            scope, window, name = key
            block = self._blocks.get((scope, name))
            if block is not None:  # units were left over: lease less next time
                self._blocks[(scope, name)] = max(1, block // 2)
            await self._store.consume(scope, window, name, None, lease.ttl_s, -lease.left)
            given += lease.left
        return given
