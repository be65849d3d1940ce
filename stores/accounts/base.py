"""The account store interface: tenants, users, API keys, refresh tokens, public shares
and the usage counters every edge replica checks and counts through atomically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

__all__ = ("AccountStore", "ApiKey", "Role", "Share", "Tenant", "User")

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
        """Insert if the email is free (emails are unique across tenants: they log in)."""
        ...

    async def get_user(self, tenant_id: str, user_id: str) -> User | None: ...

    async def user_by_email(self, email: str) -> User | None: ...

    async def list_users(self, tenant_id: str) -> list[User]: ...

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

    async def consume(self, scope: str, window: str, name: str, limit: int | None,
                      ttl_s: int, amount: int = 1) -> int | None:
        """Add ``amount`` to counter ``(scope, window, name)`` unless that takes it over
        ``limit``, in one atomic step shared by every process on the store. Returns the
        new count, or ``None`` when refused (the counter is left as it was)."""
        ...

    async def add_once(self, marker: str, scope: str, window: str, name: str, amount: int,
                       ttl_s: int) -> bool:
        """Add ``amount`` unless ``marker`` was added before (a redelivered event);
        ``False`` for a repeat."""
        ...

    async def counters(self, scope: str, window: str) -> dict[str, int]:
        """Every counter of ``scope`` in ``window``, by name."""
        ...
