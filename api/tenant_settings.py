"""Tenants' own settings (their prompt guard mode, ...), remembered at the edge for a few
seconds.

Every message carries its tenant's choices to the stages, so each edge keeps them briefly
instead of asking the account store per message. A change through this edge applies at
once; one through another edge within ``ttl_s``.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from stores.accounts.base import AccountStore

__all__ = ("TenantSettings",)


class TenantSettings:
    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, dict[str, str]]] = OrderedDict()

    async def of(self, accounts: AccountStore, tenant_id: str) -> dict[str, str]:
        now = time.monotonic()
        found = self._entries.get(tenant_id)
        if found is not None and now - found[0] <= self._ttl_s:
            return found[1]
        chosen = await accounts.tenant_settings(tenant_id)
        self._entries[tenant_id] = (now, chosen)
        self._entries.move_to_end(tenant_id)
        while self._entries and (len(self._entries) > self._max
                                 or now - next(iter(self._entries.values()))[0] > self._ttl_s):
            self._entries.popitem(last=False)
        return chosen

    def forget(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)
