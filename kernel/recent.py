"""A bounded map whose entries expire: what a process remembers of a store for a few
seconds, so a lookup made on every request costs a store read per entry per ``ttl_s``.
What was found missing is remembered too (a flood of unknown ids is not a flood of
reads)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ("Recent",)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: K) -> tuple[bool, V | None]:
        """Whether a live value is remembered for ``key``, and that value."""
        found = self._entries.get(key)
        if found is None:
            return False, None
        if time.monotonic() - found[0] > self._ttl_s:
            del self._entries[key]
            return False, None
        return True, found[1]

    def put(self, key: K, value: V) -> None:
        now = time.monotonic()
        self._entries[key] = (now, value)
        self._entries.move_to_end(key)
        # Oldest first: the expired go now, not only when the map is full (memory that
        # would otherwise grow to max_entries on a steady trickle of new keys).
        while self._entries and (len(self._entries) > self._max
                                 or now - next(iter(self._entries.values()))[0] > self._ttl_s):
            self._entries.popitem(last=False)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value remembered for ``key``, or ``load()``'s (then remembered)."""
        found = self._entries.get(key)
        if found is not None and time.monotonic() - found[0] <= self._ttl_s:
            return found[1]
        value = await load()
        self.put(key, value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
