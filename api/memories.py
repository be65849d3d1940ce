"""Whether a message may use its user's long-term memory: asked for by the request (a
temporary chat says no), the tenant's memory on, the user's not paused.

The two switches are read from the store and remembered for a few seconds per user, like
a conversation's owner: every message needs them. A switch flipped through this edge
applies at once; through another, within ``ttl_s``.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from stores.memories.base import MemorySettings, MemoryStore

__all__ = ("MemoryPolicy",)


class MemoryPolicy:
    def __init__(self, store: MemoryStore, *, ttl_s: float = 5.0,
                 max_entries: int = 10_000) -> None:
        self.store = store
        self._ttl_s = ttl_s
        self._max = max_entries
        self._seen: OrderedDict[tuple[str, str], tuple[float, MemorySettings]] = OrderedDict()

    async def settings(self, tenant_id: str, user_id: str) -> MemorySettings:
        key = (tenant_id, user_id)
        found = self._seen.get(key)
        if found is not None and time.monotonic() - found[0] <= self._ttl_s:
            return found[1]
        settings = await self.store.settings(tenant_id, user_id)
        self._seen[key] = (time.monotonic(), settings)
        self._seen.move_to_end(key)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return settings

    async def allowed(self, tenant_id: str, user_id: str, asked: bool) -> bool:
        return asked and (await self.settings(tenant_id, user_id)).active

    def forget(self, tenant_id: str, user_id: str | None = None) -> None:
        """A switch changed here: read it again (every user of the tenant for its own)."""
        for key in [k for k in self._seen if k[0] == tenant_id
                    and (user_id is None or k[1] == user_id)]:
            del self._seen[key]
