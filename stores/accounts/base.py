"""The account store interface: tenants, users, API keys, sessions, public shares, and
the usage counters and claims every edge replica checks and takes through atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

__all__ = ("LEASE_SHARE", "AccountStore", "ApiKey", "Role", "Share", "Tenant", "User",
           "grant")

# A lease takes at most this fraction (1/LEASE_SHARE) of a limit's units left beyond
# what it needs at once, so the other edges still find units when a limit runs low.
LEASE_SHARE = 2


def grant(limit: int | None, used: int, least: int, most: int) -> int | None:
    """Units a lease of ``least`` to ``most`` gets from a counter at ``used`` of
    ``limit``: ``None`` when even ``least`` does not fit."""
    if limit is None:
        return most
    left = limit - used
    if left < least:
        return None
    return min(most, max(least, -(-left // LEASE_SHARE)))

Role = Literal["owner", "admin", "member"]


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    plan: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    tenant_id: str
    id: str
    email: str
    role: Role
    password_hash: str
    created_at: datetime
    # Tokens issued before this time (epoch seconds) are dead: every session the user
    # had ends when the role or password changes or an admin ends them.
    sessions_after: float = 0.0


@dataclass(frozen=True, slots=True)
class ApiKey:
    """``prefix`` is public (shown in listings); only a keyed hash of the secret is kept."""

    prefix: str
    tenant_id: str
    user_id: str
    name: str
    digest: str
    created_at: datetime
    revoked: bool = False
    # What the key may do (api/guards/scopes.py); ``None``: a key made before scopes
    # existed, which may do what every scope allows.
    scopes: tuple[str, ...] | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Share:
    token: str
    tenant_id: str
    conversation_id: str


class AccountStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def create_tenant(self, tenant: Tenant) -> bool:
        """Insert if absent; ``False`` when the id is taken."""
        ...

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    async def set_plan(self, tenant_id: str, plan: str) -> None: ...

    async def create_user(self, user: User) -> bool:
        """Insert if the email is free in the user's tenant (emails are unique per
        tenant: the same address may belong to users of several tenants)."""
        ...

    async def get_user(self, tenant_id: str, user_id: str) -> User | None: ...

    async def users_by_email(self, email: str) -> list[User]:
        """Every user with this email, one per tenant at most."""
        ...

    async def list_users(self, tenant_id: str) -> list[User]: ...

    async def update_user(self, tenant_id: str, user_id: str, *, role: Role | None = None,
                          password_hash: str | None = None,
                          sessions_after: float | None = None) -> User | None:
        """Change what is given; the user as it is now, ``None`` if there is none."""
        ...

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        """``False`` when the tenant has no such user."""
        ...

    async def revoke_session(self, session_id: str, ttl_s: int) -> None:
        """End one session (a login and the tokens issued from it) for ``ttl_s``: as
        long as any of its tokens could live."""
        ...

    async def session_revoked(self, session_id: str) -> bool: ...

    async def create_key(self, key: ApiKey) -> None: ...

    async def get_key(self, prefix: str) -> ApiKey | None: ...

    async def list_keys(self, tenant_id: str) -> list[ApiKey]: ...

    async def revoke_key(self, tenant_id: str, prefix: str) -> bool:
        """``False`` when the tenant has no such key."""
        ...

    async def add_refresh(self, jti: str, user_id: str, ttl_s: int) -> None: ...

    async def use_refresh(self, jti: str) -> bool:
        """Mark a refresh token used; ``True`` for its first use only (atomically)."""
        ...

    async def create_share(self, share: Share) -> Share:
        """The conversation's link: ``share``, or the one a racing call made first."""
        ...

    async def get_share(self, token: str) -> Share | None: ...

    async def share_of(self, tenant_id: str, conversation_id: str) -> Share | None:
        """The conversation's current public link, if it has one."""
        ...

    async def delete_share(self, token: str) -> None: ...

    async def set_bookmark(self, tenant_id: str, user_id: str, conversation_id: str,
                           on: bool) -> None: ...

    async def bookmarks(self, tenant_id: str, user_id: str) -> set[str]:
        """The ids of the user's bookmarked conversations."""
        ...

    async def set_credential(self, tenant_id: str, provider: str, ciphertext: str) -> None:
        """A provider key the tenant brings, already encrypted by the caller."""
        ...

    async def credentials(self, tenant_id: str) -> dict[str, str]:
        """The tenant's encrypted provider keys, by provider."""
        ...

    async def set_tenant_setting(self, tenant_id: str, name: str, value: str) -> None:
        """One of the tenant's own settings (its prompt guard mode, ...), chosen by an admin."""
        ...

    async def tenant_settings(self, tenant_id: str) -> dict[str, str]:
        """The settings the tenant has chosen, by name; absent ones are the deployment's."""
        ...

    async def consume(self, scope: str, window: str, name: str, limit: int | None,
                      ttl_s: int, amount: int = 1) -> int | None:
        """Add ``amount`` to counter ``(scope, window, name)`` unless that takes it over
        ``limit``, in one atomic step shared by every process on the store. Returns the
        new count, or ``None`` when refused (the counter is left as it was). A negative
        ``amount`` (with no limit) gives units back."""
        ...

    async def lease(self, scope: str, window: str, name: str, limit: int | None,
                    ttl_s: int, least: int, most: int) -> tuple[int, int] | None:
        """Take from ``least`` to ``most`` units of a counter in one atomic step
        (:func:`grant` says how many): the number taken and the count after, or ``None``
        when even ``least`` would pass ``limit`` (nothing is taken)."""
        ...

    async def claim(self, scope: str, holder: str, limit: int, ttl_s: int,
                    ended: Callable[[str, float], bool]) -> bool:
        """Hold one of ``limit`` places of ``scope`` for ``holder`` (at most ``ttl_s``),
        in one atomic step; holders ``ended(holder, claimed_at)`` says are finished are
        let go first (``claimed_at``: epoch seconds).
        ``False`` when every place is held."""
        ...

    async def unclaim(self, scope: str, holder: str) -> None: ...

    async def add_once(self, marker: str, scope: str, window: str, name: str, amount: int,
                       ttl_s: int) -> bool:
        """Add ``amount`` unless ``marker`` was added before (a redelivered event);
        ``False`` for a repeat."""
        ...

    async def counters(self, scope: str, window: str) -> dict[str, int]:
        """Every counter of ``scope`` in ``window``, by name."""
        ...
