"""Administration for owners and admins: keys, the plan, usage per user, and the
provider keys the tenant brings (stored encrypted). Also ``GET /v1/usage`` for anyone.
Users: :mod:`api.routes.users`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import AccountsDep, AdminDep, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.guards.limits import minute_window, month_window, plan_of, usage_of
from api.shapes import key_out
from api.submit import GUARD_SETTING
from schemas.accounts import KeyList, UsageOut
from schemas.events import GUARD_MODES, GuardMode
from stores.accounts.base import AccountStore

__all__ = ("router", "usage_router")

router = APIRouter(prefix="/v1/admin", tags=["admin"])
usage_router = APIRouter(prefix="/v1/usage", tags=["usage"])


class PlanChange(BaseModel):
    plan: str


class GuardSetting(BaseModel):
    mode: GuardMode = Field(description="`block`: a message the prompt guard flags is "
                            "refused (`content_filter`); `flag`: it goes through, marked "
                            "as flagged; `off`: the guard reads nothing")


class GuardOut(GuardSetting):
    chosen: bool = Field(description="whether the tenant chose the mode (otherwise it is "
                         "the deployment's GUARD_MODE)")


class CredentialIn(BaseModel):
    api_key: str = Field(min_length=1, max_length=4096)


async def _usage(services: ServicesDep, tenant_id: str, user_ids: list[str]) -> UsageOut:
    assert services.accounts is not None
    name, plan = await plan_of(services, tenant_id)
    month, _ = month_window()
    used = await usage_of(services, f"tenant:{tenant_id}", month)
    users = {uid: await usage_of(services, f"user:{tenant_id}:{uid}", month)
             for uid in user_ids}
    return UsageOut(plan=name, month=month, limits=plan.model_dump(), used=used,
                    users=users or None)


@usage_router.get("", response_model=UsageOut)
async def usage(services: ServicesDep, principal: PrincipalDep,
                accounts: AccountsDep) -> UsageOut:
    """The tenant's counters this month, and the caller's own (with this minute's)."""
    out = await _usage(services, principal.tenant_id, [principal.user_id])
    minute, _ = minute_window()
    mine = await usage_of(services, f"user:{principal.tenant_id}:{principal.user_id}", minute)
    if out.users is not None:
        out.users[principal.user_id]["requests_this_minute"] = mine.get("requests", 0)
    return out


@router.get("/keys", response_model=KeyList)
async def list_keys(principal: AdminDep, accounts: AccountsDep) -> KeyList:
    return KeyList(data=[key_out(k) for k in await accounts[0].list_keys(principal.tenant_id)])


@router.get("/usage", response_model=UsageOut)
async def usage_per_user(services: ServicesDep, principal: AdminDep,
                         accounts: AccountsDep) -> UsageOut:
    users = await accounts[0].list_users(principal.tenant_id)
    return await _usage(services, principal.tenant_id, [u.id for u in users])


@router.put("/plan", response_model=UsageOut)
async def set_plan(body: PlanChange, services: ServicesDep, principal: AdminDep,
                   accounts: AccountsDep) -> UsageOut:
    if principal.role != "owner":
        raise ApiError(403, "forbidden", "only owners change the plan")
    if body.plan not in services.settings.plan_catalogue:
        raise ApiError(422, "unknown_plan", f"no plan {body.plan!r}")
    await accounts[0].set_plan(principal.tenant_id, body.plan)
    return await _usage(services, principal.tenant_id, [])


async def _guard(services: ServicesDep, store: AccountStore, tenant_id: str) -> GuardOut:
    chosen = (await services.tenant_settings.of(store, tenant_id)).get(GUARD_SETTING)
    if chosen in GUARD_MODES:
        return GuardOut(mode=chosen, chosen=True)
    return GuardOut(mode=services.settings.guard_mode, chosen=False)


@router.get("/guard", response_model=GuardOut)
async def get_guard(services: ServicesDep, principal: AdminDep,
                    accounts: AccountsDep) -> GuardOut:
    """The tenant's prompt guard mode."""
    return await _guard(services, accounts[0], principal.tenant_id)


@router.put("/guard", response_model=GuardOut)
async def set_guard(body: GuardSetting, services: ServicesDep, principal: AdminDep,
                    accounts: AccountsDep) -> GuardOut:
    """What the prompt guard does with the tenant's messages it flags, from the next
    message on (on other edges within a few seconds)."""
    await accounts[0].set_tenant_setting(principal.tenant_id, GUARD_SETTING, body.mode)
    services.tenant_settings.forget(principal.tenant_id)
    return await _guard(services, accounts[0], principal.tenant_id)


@router.put("/credentials/{provider}", status_code=204)
async def set_credential(provider: str, body: CredentialIn, principal: AdminDep,
                         accounts: AccountsDep) -> Response:
    """A provider key the tenant brings, encrypted with CREDENTIALS_KEY before storing."""
    store, credentials = accounts
    await store.set_credential(principal.tenant_id, provider, credentials.encrypt(body.api_key))
    return Response(status_code=204)


@router.get("/credentials")
async def list_credentials(principal: AdminDep, accounts: AccountsDep) -> dict[str, list[str]]:
    """The providers the tenant has keys for; the keys themselves are never returned."""
    return {"providers": sorted(await accounts[0].credentials(principal.tenant_id))}
