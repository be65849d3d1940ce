"""API keys for programmatic use: ``Authorization: Bearer cs_<prefix>_<secret>``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import AccountsDep, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.guards.limits import count
from api.shapes import key_out
from schemas.accounts import KeyCreate, KeyCreated, KeyList
from schemas.events import utcnow
from stores.accounts.base import ApiKey

__all__ = ("router",)

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=KeyCreated,
             responses={403: {"description": "an API key cannot create keys"}})
async def create_key(principal: PrincipalDep, accounts: AccountsDep, services: ServicesDep,
                     body: KeyCreate | None = None) -> KeyCreated:
    """A key for programs, with the scopes it may use and an optional expiry. Only a
    signed-in user makes keys: a key never makes another, so revoking a leaked key ends
    everything it could do."""
    if principal.key_prefix is not None:  # api/guards/scopes.py refuses it first
        raise ApiError(403, "key_not_allowed", "API keys cannot create keys")
    body = body or KeyCreate()
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise ApiError(422, "invalid_expiry", "expires_at must be in the future")
    store, credentials = accounts
    await count(services, principal)
    whole, prefix, digest = credentials.new_key()
    key = ApiKey(prefix, principal.tenant_id, principal.user_id, body.name, digest, utcnow(),
                 scopes=tuple(sorted(set(body.scopes))) if body.scopes else None,
                 expires_at=body.expires_at)
    await store.create_key(key)
    return KeyCreated(**key_out(key).model_dump(), key=whole)


@router.get("", response_model=KeyList)
async def list_keys(principal: PrincipalDep, accounts: AccountsDep) -> KeyList:
    """The caller's keys, by prefix only: the secret part is never shown again."""
    keys = await accounts[0].list_keys(principal.tenant_id)
    return KeyList(data=[key_out(k) for k in keys if k.user_id == principal.user_id])


@router.delete("/{prefix}", status_code=204)
async def revoke_key(prefix: str, principal: PrincipalDep, accounts: AccountsDep,
                     services: ServicesDep) -> Response:
    """Revoke one of the caller's keys (owners and admins: any key of the tenant; a key:
    itself only). It stops working at once on this edge and within SESSION_CHECK_S on
    the others, its open streams too."""
    if principal.key_prefix is not None and principal.key_prefix != prefix:
        raise ApiError(403, "key_not_allowed", "an API key may revoke itself only")
    store = accounts[0]
    key = await store.get_key(prefix)
    if (key is None or key.tenant_id != principal.tenant_id
            or (key.user_id != principal.user_id and not principal.is_admin)):
        raise ApiError(404, "not_found", f"key {prefix} not found")
    await store.revoke_key(principal.tenant_id, prefix)
    if services.sessions is not None:
        services.sessions.forget_key(prefix)
    return Response(status_code=204)
