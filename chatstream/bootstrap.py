"""``chatstream bootstrap``: the first tenant and its owner, straight into the store."""

from __future__ import annotations

import uuid
from typing import cast

from api.guards.credentials import Credentials
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from schemas.events import utcnow
from stores.accounts.base import Role, Tenant, User

__all__ = ("bootstrap",)


async def bootstrap(settings: Settings, tenant: str, email: str, password: str,
                    plan: str | None = None, role: str = "owner") -> str:
    """Create ``tenant`` (if new) and a user in it; returns the user's id."""
    from chatstream.backends import Backend

    plan = plan or settings.default_plan
    if plan not in settings.plan_catalogue:
        raise ConfigurationError(f"no plan {plan!r}; plans: "
                                 f"{', '.join(sorted(settings.plan_catalogue))}")
    if role not in ("owner", "admin", "member"):
        raise ConfigurationError("role must be owner, admin or member")
    if len(password) < 8:
        raise ConfigurationError("the password needs 8 characters or more")
    async with Backend(settings) as backend:
        accounts = backend.stores.accounts()
        await accounts.start()
        await accounts.create_tenant(Tenant(tenant, tenant, plan, utcnow()))
        user = User(tenant, uuid.uuid4().hex, email.strip().lower(),
                    cast(Role, role), await Credentials(settings).hash_password(password), utcnow())
        if not await accounts.create_user(user):
            raise ConfigurationError("a user with this email exists in this tenant")
        await accounts.close()
        return user.id
