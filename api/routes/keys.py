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


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(principal: PrincipalDep, accounts: AccountsDep, services: ServicesDep,
                     body: KeyCreate | None = None) -> KeyCreated:
    store, credentials = accounts
    await count(services, principal)
    whole, prefix, digest = credentials.new_key()
    key = ApiKey(prefix, principal.tenant_id, principal.user_id, body.name if body else "",
                 digest, utcnow())
    await store.create_key(key)
    return KeyCreated(**key_out(key).model_dump(), key=whole)


@router.get("", response_model=KeyList)
async def list_keys(principal: PrincipalDep, accounts: AccountsDep) -> KeyList:
    """The caller's keys, by prefix only: the secret part is never shown again."""
    keys = await accounts[0].list_keys(principal.tenant_id)
    return KeyList(data=[key_out(k) for k in keys if k.user_id == principal.user_id])


@router.delete("/{prefix}", status_code=204)
async def revoke_key(prefix: str, principal: PrincipalDep, accounts: AccountsDep) -> Response:
    """Revoke one of the caller's keys (owners and admins: any key of the tenant)."""
    store = accounts[0]
    key = await store.get_key(prefix)
    if (key is None or key.tenant_id != principal.tenant_id
            or (key.user_id != principal.user_id and not principal.is_admin)):
        raise ApiError(404, "not_found", f"key {prefix} not found")
    await store.revoke_key(principal.tenant_id, prefix)
    return Response(status_code=204)
