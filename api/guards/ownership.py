"""Who owns a conversation, remembered at the edge for a few seconds.

Every message POST checks that the conversation is the caller's; the answer rarely
changes, so each edge keeps it briefly instead of asking the store every time. Entries
are scoped by tenant and checked against the caller's user; a delete through this edge
forgets at once, one through another edge within ``ttl_s``.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from stores.conversations.base import Conversation

__all__ = ("OwnershipCache",)


class OwnershipCache:
    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, Conversation]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        key = (tenant_id, conversation_id)
        found = self._entries.get(key)
        if found is None:
            return None
        at, conversation = found
        if time.monotonic() - at > self._ttl_s:
            del self._entries[key]
            return None
        return conversation

    def put(self, conversation: Conversation) -> None:
        key = (conversation.tenant_id, conversation.id)
        now = time.monotonic()
        self._entries[key] = (now, conversation)
        self._entries.move_to_end(key)
        # Oldest first: what expired goes now, not when the cache is full (memory that
        # would otherwise grow to max_entries on a steady trickle of new conversations).
        while self._entries and (len(self._entries) > self._max
                                 or now - next(iter(self._entries.values()))[0] > self._ttl_s):
            self._entries.popitem(last=False)

    def forget(self, tenant_id: str, conversation_id: str) -> None:
        self._entries.pop((tenant_id, conversation_id), None)
