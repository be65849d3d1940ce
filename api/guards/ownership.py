"""Who owns a conversation, remembered at the edge for a few seconds.

Every message POST checks that the conversation is the caller's; the answer rarely
changes, so each edge keeps it briefly instead of asking the store every time. Entries
are scoped by tenant and checked against the caller's user; a delete through this edge
forgets at once, one through another edge within ``ttl_s``.
"""

from __future__ import annotations

from kernel.recent import Recent
from stores.conversations.base import Conversation

__all__ = ("OwnershipCache",)


class OwnershipCache:
    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self._recent: Recent[tuple[str, str], Conversation] = Recent(ttl_s, max_entries)

    def __len__(self) -> int:
        return len(self._recent)

    def get(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        return self._recent.peek((tenant_id, conversation_id))[1]

    def put(self, conversation: Conversation) -> None:
        self._recent.put((conversation.tenant_id, conversation.id), conversation)

    def forget(self, tenant_id: str, conversation_id: str) -> None:
        self._recent.forget((tenant_id, conversation_id))
