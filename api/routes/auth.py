"""Logging in: a password for an access and a refresh token; refresh tokens rotate.

Guessing is throttled per client address (attempts) and per email (failures), each
429 with ``Retry-After``; hashing runs in a bounded pool
(:class:`api.guards.credentials.Credentials`)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from api.deps import AccountsDep, ServicesDep
from api.guards.credentials import unauthorized
from api.guards.limits import login_allowed, login_failed, peer
from schemas.accounts import LoginRequest, RefreshRequest, TokenPair

__all__ = ("router",)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/auth", tags=["auth"])

# Verified when the email is unknown too, so both failures take the same time.
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$3UdQdC8BZuo0xjbIav+"
               "nYg$dhyLJmLuwkPiE7O5vv8y6EX+0lz45UPZg6QnM1p62hw")


@router.post("/token", response_model=TokenPair,
             responses={429: {"description": "too many attempts; see Retry-After"}})
async def token(body: LoginRequest, accounts: AccountsDep, services: ServicesDep,
                request: Request) -> TokenPair:
    store, credentials = accounts
    email = body.email.strip().lower()
    await login_allowed(services, peer(services, request), email)
    user = await store.user_by_email(email)
    ok = await credentials.check_password(user.password_hash if user else _DUMMY_HASH,
                                          body.password)
    if user is None or not ok:
        log.info("failed login")  # never the email, never the password
        await login_failed(services, email)
        raise unauthorized("wrong email or password", "invalid_credentials")
    access, refresh, jti = credentials.issue(user.tenant_id, user.id, user.role)
    await store.add_refresh(jti, user.id, credentials.refresh_ttl)
    return TokenPair(access_token=access, refresh_token=refresh,
                     expires_in=credentials.access_ttl)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, accounts: AccountsDep) -> TokenPair:
    """Each refresh token is good once. A second use means a copy was stolen (or the
    client raced itself): the whole family, every token descended from that login, is
    revoked, so the thief's fresh token stops working too."""
    store, credentials = accounts
    claims = credentials.verify(body.refresh_token, "refresh")
    family = claims.family
    if await credentials.family_revoked(store, family):
        raise unauthorized("this login was revoked; sign in again", "refresh_revoked")
    if not await store.use_refresh(claims.jti):
        await credentials.revoke_family(store, family)
        log.warning("a used refresh token came back; its login is revoked")
        raise unauthorized("this refresh token was already used; the login is revoked",
                           "refresh_reused")
    user = await store.get_user(claims.tenant_id, claims.user_id)
    if user is None:
        raise unauthorized("the token's user no longer exists")
    access, new_refresh, jti = credentials.issue(user.tenant_id, user.id, user.role,
                                                 family=family)
    await store.add_refresh(jti, user.id, credentials.refresh_ttl)
    return TokenPair(access_token=access, refresh_token=new_refresh,
                     expires_in=credentials.access_ttl)
