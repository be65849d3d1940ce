"""Logging in: a password for an access and a refresh token; refresh tokens rotate.

Guessing is throttled per client address (attempts) and per email (failures), each
429 with ``Retry-After``; hashing runs in a bounded pool
(:class:`api.guards.credentials.Credentials`).

An email is unique per tenant, so one address may be a user of several tenants. A login
may name its ``tenant``; without one, the password is tried against each of the
address's users (a handful at most) and the one it opens is signed in; when it opens
several, the caller must name one (409 ``tenant_required``, listing them: the caller has
just shown it holds those accounts)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from api.deps import AccountsDep, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.guards.credentials import unauthorized
from api.guards.limits import login_allowed, login_succeeded, peer
from api.guards.sessions import Sessions
from schemas.accounts import LoginRequest, LogoutRequest, RefreshRequest, TokenPair

__all__ = ("router",)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/auth", tags=["auth"])

# Verified when the email is unknown too, so both failures take the same time.
# Users of one address tried by one login, at most (each try is a hash).
MAX_TENANTS_PER_EMAIL = 8
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$3UdQdC8BZuo0xjbIav+"
               "nYg$dhyLJmLuwkPiE7O5vv8y6EX+0lz45UPZg6QnM1p62hw")


@router.post("/token", response_model=TokenPair,
             responses={409: {"description": "the password opens accounts of several "
                                    "tenants: name one in `tenant`"},
                        429: {"description": "too many attempts; see Retry-After"}})
async def token(body: LoginRequest, accounts: AccountsDep, services: ServicesDep,
                request: Request) -> TokenPair:
    store, credentials = accounts
    email = body.email.strip().lower()
    await login_allowed(services, peer(services, request), email)
    users = [u for u in await store.users_by_email(email)
             if body.tenant is None or u.tenant_id == body.tenant][:MAX_TENANTS_PER_EMAIL]
    opened = []
    if not users:  # hashed all the same, so an unknown email takes as long
        await credentials.check_password(_DUMMY_HASH, body.password)
    for user in users:
        if await credentials.check_password(user.password_hash, body.password):
            opened.append(user)
    if not opened:
        log.info("failed login")  # never the email, never the password
        raise unauthorized("wrong email or password", "invalid_credentials")
    await login_succeeded(services, email)
    if len(opened) > 1:
        raise ApiError(409, "tenant_required", "this email and password open accounts of "
                       f"several tenants ({', '.join(u.tenant_id for u in opened)}): name "
                       "one in `tenant`")
    user = opened[0]
    access, refresh, jti = credentials.issue(user.tenant_id, user.id, user.role)
    await store.add_refresh(jti, user.id, credentials.refresh_ttl)
    return TokenPair(access_token=access, refresh_token=refresh,
                     expires_in=credentials.access_ttl)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, accounts: AccountsDep,
                  services: ServicesDep) -> TokenPair:
    """Each refresh token is good once. A second use means a copy was stolen (or the
    client raced itself): the whole session, every token descended from that login, is
    ended, so the thief's fresh token stops working too. A session that was ended
    (logout, or all of its user's) refreshes no more."""
    store, credentials = accounts
    claims = credentials.verify(body.refresh_token, "refresh")
    user = await store.get_user(claims.tenant_id, claims.user_id)
    if (user is None or claims.auth_time < user.sessions_after
            or await store.session_revoked(claims.session)):
        raise unauthorized("this session has ended; sign in again", "refresh_revoked")
    if not await store.use_refresh(claims.jti):
        await _sessions(services).end_session(claims.session)
        log.warning("a used refresh token came back; its session is ended")
        raise unauthorized("this refresh token was already used; the session has ended",
                           "refresh_reused")
    access, new_refresh, jti = credentials.issue(user.tenant_id, user.id, user.role,
                                                 session=claims)
    await store.add_refresh(jti, user.id, credentials.refresh_ttl)
    return TokenPair(access_token=access, refresh_token=new_refresh,
                     expires_in=credentials.access_ttl)


@router.post("/logout", status_code=204,
             responses={403: {"description": "API keys have no session to end"}})
async def logout(principal: PrincipalDep, services: ServicesDep,
                 body: LogoutRequest | None = None) -> Response:
    """End the caller's session: its access and refresh tokens stop working (within
    SESSION_CHECK_S on other edges, at once on this one), its open streams too.
    ``{"everywhere": true}``: every session of the caller's, on every device."""
    sessions = _sessions(services)
    if principal.session_id is None:
        raise ApiError(403, "key_not_allowed", "API keys have no session to end")
    if body is not None and body.everywhere:
        await sessions.end_sessions_of(principal.tenant_id, principal.user_id)
    else:
        await sessions.end_session(principal.session_id)
    return Response(status_code=204)


def _sessions(services: ServicesDep) -> Sessions:
    if services.sessions is None:
        raise ApiError(404, "auth_disabled", "accounts need CHATSTREAM_AUTH=jwt")
    return services.sessions
