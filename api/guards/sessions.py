"""Who the caller is: a request's credential resolved into a :class:`Principal`, checked
against everything that revokes it.

- An access token names its session (``sid``: the login it descends from) and when that
  login happened (``auth_time``). It is refused once the session is ended (logout),
  once its user's sessions were all ended after that login (a role or password change,
  "end every session"), and once its user is gone. The principal's role is the user's
  role now, not the one the token was issued with.
- An API key is refused once revoked or expired or its user gone, and may only call the
  routes of its scopes (:mod:`api.guards.scopes`): never those that change accounts.
- What revokes is read from the store at most once per ``SESSION_CHECK_S`` for each
  user, session and key on each edge (bounded caches, :class:`kernel.recent.Recent`),
  and forgotten at once on the edge that revokes: a credential dies within that time
  everywhere, without a store read per request. (A one-minute access token would bound
  it too, but every signed-in client would then refresh every minute, each refresh a
  conditional write.)
- An open stream asks again as it goes (:meth:`Sessions.alive`) and ends when its
  credential dies.

Everything here is plain (no FastAPI dependency): :func:`identify` takes an ASGI
scope, so endpoints of any kind resolve the caller the same way (the boundary before the
body is read, through :func:`api.deps.authenticate`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Scope

from api.errors import ApiError
from api.guards.credentials import Credentials, unauthorized
from api.guards.scopes import KEY_SCOPES, scope_of
from api.guards.slots import USER_KEY
from kernel.recent import Recent
from kernel.settings import Settings
from stores.accounts.base import AccountStore, ApiKey, User

__all__ = ("ALIVE_CHECK_S", "ALIVE_KEY", "Principal", "Sessions", "identify")

# Where a request's scope keeps how to ask whether its credential still lives: the
# boundary asks, every ALIVE_CHECK_S at most, while the request's stream is open (the
# answer comes from the caches, so asking often costs no store read).
ALIVE_KEY = "chatstream.alive"
ALIVE_CHECK_S = 5.0


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    user_id: str
    role: str = "owner"
    # False in dev mode: nothing is limited or counted.
    metered: bool = False
    # The credential: a session (JWT) or an API key, and when the session's login was.
    session_id: str | None = None
    key_prefix: str | None = None
    auth_time: float = 0.0

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")

    def is_operator(self, settings: Settings) -> bool:
        """Sees the pipeline's status: an admin of OPERATOR_TENANT (anyone in dev mode)."""
        return self.is_admin and (settings.auth == "dev"
                                  or self.tenant_id == settings.operator_tenant != "")


class Sessions:
    def __init__(self, store: AccountStore, credentials: Credentials, ttl_s: float) -> None:
        self._store = store
        self._credentials = credentials
        self._users: Recent[tuple[str, str], User | None] = Recent(ttl_s)
        self._ended: Recent[str, bool] = Recent(ttl_s)
        self._keys: Recent[str, ApiKey | None] = Recent(ttl_s)

    # -- reading ---------------------------------------------------------------------

    async def user(self, tenant_id: str, user_id: str) -> User | None:
        return await self._users.get((tenant_id, user_id),
                                     lambda: self._store.get_user(tenant_id, user_id))

    async def _key(self, prefix: str) -> ApiKey | None:
        return await self._keys.get(prefix, lambda: self._store.get_key(prefix))

    async def _session_ended(self, session_id: str) -> bool:
        return await self._ended.get(session_id,
                                     lambda: self._store.session_revoked(session_id))

    async def principal(self, token: str, method: str, path: str) -> Principal:
        """The principal of a bearer ``token`` (an access token or an API key) calling
        ``method path``; 401 when the credential is not (or no longer) good, 403 when a
        key's scopes do not cover the route."""
        if token.startswith("cs_"):
            return await self._key_principal(token, method, path)
        claims = self._credentials.verify(token, "access")
        user = await self.user(claims.tenant_id, claims.user_id)
        if user is None:
            raise unauthorized("the token's user no longer exists", "session_ended")
        if claims.auth_time < user.sessions_after or await self._session_ended(
                claims.session):
            raise unauthorized("this session has ended; sign in again", "session_ended")
        return Principal(user.tenant_id, user.id, user.role, metered=True,
                         session_id=claims.session, auth_time=claims.auth_time)

    async def _key_principal(self, token: str, method: str, path: str) -> Principal:
        parts = self._credentials.split_key(token)
        key = await self._key(parts[0]) if parts else None
        if parts is None or key is None or not self._credentials.key_matches(key.digest,
                                                                             parts[1]):
            raise unauthorized("unknown API key")
        self._key_usable(key)
        user = await self.user(key.tenant_id, key.user_id)
        if user is None:
            raise unauthorized("the key's user no longer exists", "key_revoked")
        needed = scope_of(method, path)
        if needed is None or (needed and needed not in (key.scopes or KEY_SCOPES)):
            raise ApiError(403, "key_not_allowed", "API keys cannot do this"
                           if needed is None else f"this API key lacks the {needed!r} "
                           "scope")
        return Principal(user.tenant_id, user.id, user.role, metered=True,
                         key_prefix=key.prefix)

    @staticmethod
    def _key_usable(key: ApiKey) -> None:
        if key.revoked:
            raise unauthorized("this API key was revoked", "key_revoked")
        if key.expires_at is not None and key.expires_at.timestamp() <= time.time():
            raise unauthorized("this API key has expired", "key_expired")

    async def alive(self, principal: Principal) -> bool:
        """Whether the credential ``principal`` came with is still good (an open stream
        asks as it goes)."""
        user = await self.user(principal.tenant_id, principal.user_id)
        if user is None:
            return False
        if principal.key_prefix is not None:
            key = await self._key(principal.key_prefix)
            if key is None:
                return False
            try:
                self._key_usable(key)
            except ApiError:
                return False
            return True
        if principal.session_id is None:
            return True
        return (principal.auth_time >= user.sessions_after
                and not await self._session_ended(principal.session_id))

    # -- revoking (and forgetting at once on this edge) ---------------------------------

    async def end_session(self, session_id: str) -> None:
        """Log out: the session's tokens (and its refresh token) stop working."""
        await self._store.revoke_session(session_id, self._credentials.refresh_ttl)
        self._ended.forget(session_id)

    async def end_sessions_of(self, tenant_id: str, user_id: str) -> User | None:
        """End every session the user has now (their API keys stay)."""
        user = await self._store.update_user(tenant_id, user_id, sessions_after=time.time())
        self._users.forget((tenant_id, user_id))
        return user

    def forget_user(self, tenant_id: str, user_id: str) -> None:
        self._users.forget((tenant_id, user_id))

    def forget_key(self, prefix: str) -> None:
        self._keys.forget(prefix)


async def identify(settings: Settings, sessions: Sessions | None, scope: Scope) -> Principal:
    """The principal of the request of ``scope``: from its credential only, never from
    its body. Noted in the scope for the boundary: whose stream a response is, and how to
    ask whether its credential still lives."""
    headers = Headers(scope=scope)
    if settings.auth == "dev":
        # AUTH=dev: one local user, for `chatstream up` on a laptop. The tenant is "dev"
        # unless X-Dev-Tenant names another, to try several tenants locally (and in
        # tests); dev mode has no credentials, so it is never for shared deployments.
        principal = Principal(tenant_id=headers.get("x-dev-tenant") or "dev", user_id="dev")
    else:
        if sessions is None:
            raise ApiError(404, "auth_disabled", "accounts need CHATSTREAM_AUTH=jwt")
        kind, _, token = headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise unauthorized("send Authorization: Bearer <access token or API key>")
        principal = await sessions.principal(token.strip(), scope.get("method", "GET"),
                                             scope.get("path", ""))
        scope[ALIVE_KEY] = functools.partial(sessions.alive, principal)
    scope[USER_KEY] = (principal.tenant_id, principal.user_id)
    return principal
