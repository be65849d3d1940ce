"""A tenant's users, for its owners and admins: create, list, change role or password,
end every session, remove.

Admins manage members; owners manage members and admins. Nobody changes or removes
themselves here (``/v1/me/password``, ``/v1/auth/logout`` are for that), and owners are
changed with ``chatstream bootstrap``, so a tenant always keeps one. A role or password
change ends the user's sessions (a new role is never carried by an old token); removing
a user revokes their API keys too. Each takes effect at once on this edge and within
SESSION_CHECK_S on the others, open streams included.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import AccountsDep, AdminDep, Principal, ServicesDep
from api.errors import ApiError
from api.guards.limits import count
from api.guards.sessions import Sessions
from api.services import EdgeServices
from schemas.accounts import UserChange, UserCreate, UserList, UserOut
from schemas.events import utcnow
from stores.accounts.base import User

__all__ = ("router",)

router = APIRouter(prefix="/v1/admin/users", tags=["admin"])


def _user_out(u: User) -> UserOut:
    return UserOut(id=u.id, email=u.email, role=u.role, created_at=u.created_at)


def _sessions(services: EdgeServices) -> Sessions:
    if services.sessions is None:
        raise ApiError(404, "auth_disabled", "accounts need CHATSTREAM_AUTH=jwt")
    return services.sessions


@router.get("", response_model=UserList)
async def list_users(principal: AdminDep, accounts: AccountsDep) -> UserList:
    return UserList(data=[_user_out(u) for u in await accounts[0].list_users(
        principal.tenant_id)])


@router.post("", status_code=201, response_model=UserOut)
async def create_user(body: UserCreate, principal: AdminDep, accounts: AccountsDep,
                      services: ServicesDep) -> UserOut:
    """A user of the caller's tenant. The email must be free in this tenant; users of
    other tenants may have it too."""
    store, credentials = accounts
    await count(services, principal)
    if body.role == "admin" and principal.role != "owner":
        raise ApiError(403, "forbidden", "only owners create admins")
    user = User(principal.tenant_id, uuid.uuid4().hex, body.email.strip().lower(), body.role,
                await credentials.hash_password(body.password), utcnow())
    if not await store.create_user(user):
        raise ApiError(409, "email_taken", "a user with this email exists in this tenant")
    return _user_out(user)


async def _managed(services: EdgeServices, principal: Principal, user_id: str) -> User:
    """The tenant's user ``user_id`` if the caller may manage them: 404 for another
    tenant's or an unknown one, 403 for themselves, an owner, or (for an admin) an
    admin."""
    if services.accounts is None:
        raise ApiError(404, "auth_disabled", "accounts need CHATSTREAM_AUTH=jwt")
    user = await services.accounts.get_user(principal.tenant_id, user_id)
    if user is None:
        raise ApiError(404, "not_found", f"user {user_id} not found")
    if user.id == principal.user_id:
        raise ApiError(403, "forbidden", "change yourself with /v1/me/password and "
                       "/v1/auth/logout, not here")
    if user.role == "owner":
        raise ApiError(403, "forbidden", "owners are changed with `chatstream bootstrap`")
    if user.role == "admin" and principal.role != "owner":
        raise ApiError(403, "forbidden", "only owners manage admins")
    return user


@router.patch("/{user_id}", response_model=UserOut)
async def change_user(user_id: str, body: UserChange, principal: AdminDep,
                      accounts: AccountsDep, services: ServicesDep) -> UserOut:
    """A new role or password; either ends every session the user has."""
    store, credentials = accounts
    user = await _managed(services, principal, user_id)
    if body.role == "admin" and principal.role != "owner":
        raise ApiError(403, "forbidden", "only owners make admins")
    if body.role is None and body.password is None:
        return _user_out(user)
    await count(services, principal)
    changed = await store.update_user(
        principal.tenant_id, user.id, role=body.role,
        password_hash=await credentials.hash_password(body.password)
        if body.password is not None else None)
    ended = await _sessions(services).end_sessions_of(principal.tenant_id, user.id)
    if changed is None or ended is None:
        raise ApiError(404, "not_found", f"user {user_id} not found")
    return _user_out(ended)


@router.delete("/{user_id}/sessions", status_code=204)
async def end_sessions(user_id: str, principal: AdminDep, services: ServicesDep) -> Response:
    """End every session the user has (they sign in again); their API keys stay."""
    user = await _managed(services, principal, user_id)
    await _sessions(services).end_sessions_of(principal.tenant_id, user.id)
    return Response(status_code=204)


@router.delete("/{user_id}", status_code=204)
async def remove_user(user_id: str, principal: AdminDep, accounts: AccountsDep,
                      services: ServicesDep) -> Response:
    """Remove the user: their sessions and API keys stop working; what they wrote (their
    conversations, documents) stays with the tenant."""
    store = accounts[0]
    user = await _managed(services, principal, user_id)
    sessions = _sessions(services)
    for key in await store.list_keys(principal.tenant_id):
        if key.user_id == user.id and not key.revoked:
            await store.revoke_key(principal.tenant_id, key.prefix)
            sessions.forget_key(key.prefix)
    await store.delete_user(principal.tenant_id, user.id)
    sessions.forget_user(principal.tenant_id, user.id)
    return Response(status_code=204)
