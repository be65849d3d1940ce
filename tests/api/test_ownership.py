"""The edge's conversation-owner cache: scoped by tenant, brief, forgotten on delete."""

from __future__ import annotations

import time

from api.guards.ownership import OwnershipCache
from schemas.events import utcnow
from stores.conversations.base import Conversation


def _conversation(tenant: str, cid: str, user: str) -> Conversation:
    return Conversation(tenant_id=tenant, id=cid, user_id=user, title="t",
                        created_at=utcnow())


def test_entries_are_per_tenant_expire_and_are_forgotten() -> None:
    cache = OwnershipCache(ttl_s=0.05, max_entries=2)
    cache.put(_conversation("acme", "c1", "alice"))
    assert cache.get("acme", "c1") is not None
    assert cache.get("globex", "c1") is None  # the same id in another tenant is another
    cache.forget("acme", "c1")
    assert cache.get("acme", "c1") is None
    cache.put(_conversation("acme", "c2", "alice"))
    time.sleep(0.06)
    assert cache.get("acme", "c2") is None


def test_the_cache_is_bounded() -> None:
    cache = OwnershipCache(max_entries=2)
    for cid in ("c1", "c2", "c3"):
        cache.put(_conversation("acme", cid, "alice"))
    assert [cache.get("acme", c) is not None for c in ("c1", "c2", "c3")] == [False, True, True]


def test_expired_entries_go_when_others_come() -> None:
    """A steady trickle of new conversations does not fill the cache up to its bound."""
    cache = OwnershipCache(ttl_s=0.05, max_entries=1000)
    for cid in ("c1", "c2"):
        cache.put(_conversation("acme", cid, "alice"))
    time.sleep(0.06)
    cache.put(_conversation("acme", "c3", "alice"))
    assert len(cache) == 1
