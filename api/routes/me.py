"""``GET /v1/me``: who the caller is and how this edge authenticates, for the page;
``PUT /v1/me/password``: a new password."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import AccountsDep, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.guards.credentials import unauthorized
from api.guards.limits import login_allowed, login_succeeded, peer
from schemas.accounts import PasswordChange, TokenPair

__all__ = ("router",)

router = APIRouter(prefix="/v1/me", tags=["auth"])


class MeOut(BaseModel):
    auth: Literal["dev", "jwt"]
    tenant_id: str
    user_id: str
    role: str
    email: str | None = None
    web_search: bool = False  # messages may ask for web search
    operator: bool = False  # sees the pipeline's status
    max_message_chars: int  # a longer message is refused (413)


@router.get("", response_model=MeOut)
async def me(services: ServicesDep, principal: PrincipalDep) -> MeOut:
    email = None
    if services.accounts is not None:
        user = await services.accounts.get_user(principal.tenant_id, principal.user_id)
        email = user.email if user else None
    return MeOut(auth=services.settings.auth, tenant_id=principal.tenant_id,
                 user_id=principal.user_id, role=principal.role, email=email,
                 web_search=bool(services.settings.web_search),
                 operator=principal.is_operator(services.settings),
                 max_message_chars=services.settings.max_message_chars)


@router.put("/password", response_model=TokenPair,
            responses={401: {"description": "the current password is wrong"},
                       429: {"description": "too many attempts; see Retry-After"}})
async def change_password(body: PasswordChange, principal: PrincipalDep,
                          accounts: AccountsDep, services: ServicesDep,
                          request: Request) -> TokenPair:
    """A new password, given the current one (guessing it is throttled like a login).
    Every session of the caller's ends, on every device; the tokens returned start a new
    one here."""
    store, credentials = accounts
    if principal.session_id is None:
        raise ApiError(403, "key_not_allowed", "API keys cannot change passwords")
    user = await store.get_user(principal.tenant_id, principal.user_id)
    if user is None:
        raise unauthorized("the token's user no longer exists", "session_ended")
    await login_allowed(services, peer(services, request), user.email)
    if not await credentials.check_password(user.password_hash, body.current_password):
        raise unauthorized("the current password is wrong", "invalid_credentials")
    await login_succeeded(services, user.email)
    await store.update_user(user.tenant_id, user.id,
                            password_hash=await credentials.hash_password(body.new_password))
    assert services.sessions is not None
    await services.sessions.end_sessions_of(user.tenant_id, user.id)
    access, refresh, jti = credentials.issue(user.tenant_id, user.id, user.role)
    await store.add_refresh(jti, user.id, credentials.refresh_ttl)
    return TokenPair(access_token=access, refresh_token=refresh,
                     expires_in=credentials.access_ttl)
