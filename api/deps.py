"""FastAPI dependencies as ``Annotated`` aliases, so route signatures stay short."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.types import Scope

from api.errors import ApiError
from api.guards.credentials import Credentials, unauthorized
from api.guards.slots import USER_KEY
from api.services import EdgeServices
from kernel.settings import Settings
from stores.accounts.base import AccountStore
from stores.conversations.base import Conversation

__all__ = ("PRINCIPAL_KEY", "AccountsDep", "AdminDep", "OwnConversation", "Principal",
           "PrincipalDep", "ServicesDep", "authenticate", "own_conversation", "principal_of")

# Where :func:`authenticate` keeps the caller it found, in the request's ASGI scope.
PRINCIPAL_KEY = "chatstream.principal"


def get_services(request: Request) -> EdgeServices:
    services: EdgeServices = request.app.state.services
    return services


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    user_id: str
    role: str = "owner"
    # False in dev mode: nothing is limited or counted.
    metered: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")

    def is_operator(self, settings: Settings) -> bool:
        """Sees the pipeline's status: an admin of OPERATOR_TENANT (anyone in dev mode)."""
        return self.is_admin and (settings.auth == "dev"
                                  or self.tenant_id == settings.operator_tenant != "")


async def get_principal(services: Annotated[EdgeServices, Depends(get_services)],
                        request: Request,
                        authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The tenant and user come from the credential only, never from the request body."""
    return await principal_of(services, request.scope, authorization,
                              request.headers.get("X-Dev-Tenant"))


async def principal_of(services: EdgeServices, scope: Scope, authorization: str | None,
                       dev_tenant: str | None) -> Principal:
    """The caller of the request of ``scope``: the one the boundary found already, or
    found now from its headers (``Authorization``; ``X-Dev-Tenant`` in dev mode)."""
    found = scope.get(PRINCIPAL_KEY)
    principal = found if isinstance(found, Principal) \
        else await _principal(services, authorization, dev_tenant)
    # For the boundary middleware: whose stream a streamed response is (api/guards/slots.py).
    scope[USER_KEY] = (principal.tenant_id, principal.user_id)
    return principal


async def authenticate(services: EdgeServices, scope: Scope) -> str:
    """Check a request's credential before its body is read or its rate counted (the
    boundary calls it): an anonymous or forged one is 401 before the edge does any work
    for it. The principal is kept in the scope, so the route does not check it twice;
    returned: who it is, ``tenant:user``."""
    principal = scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        request = Request(scope)
        principal = await _principal(services, request.headers.get("authorization"),
                                     request.headers.get("X-Dev-Tenant"))
        scope[PRINCIPAL_KEY] = principal
    return f"{principal.tenant_id}:{principal.user_id}"


async def _principal(services: EdgeServices, authorization: str | None,
                     dev_tenant: str | None) -> Principal:
    if services.settings.auth == "dev":
        # AUTH=dev: one local user, for `chatstream up` on a laptop. The tenant is "dev"
        # unless X-Dev-Tenant names another, to try several tenants locally (and in
        # tests); dev mode has no credentials, so it is never for shared deployments.
        return Principal(tenant_id=dev_tenant or "dev", user_id="dev")
    accounts, credentials = _accounts(services)
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("send Authorization: Bearer <access token or API key>")
    token = token.strip()
    if token.startswith("cs_"):
        parts = credentials.split_key(token)
        key = await accounts.get_key(parts[0]) if parts else None
        if parts is None or key is None or not credentials.key_matches(key.digest, parts[1]):
            raise unauthorized("unknown API key")
        if key.revoked:
            raise unauthorized("this API key was revoked", "key_revoked")
        user = await accounts.get_user(key.tenant_id, key.user_id)
        if user is None:
            raise unauthorized("the key's user no longer exists")
        return Principal(user.tenant_id, user.id, user.role, metered=True)
    claims = credentials.verify(token, "access")
    return Principal(claims.tenant_id, claims.user_id, claims.role, metered=True)


def _accounts(services: EdgeServices) -> tuple[AccountStore, Credentials]:
    if services.accounts is None or services.credentials is None:
        raise ApiError(404, "auth_disabled", "accounts need CHATSTREAM_AUTH=jwt")
    return services.accounts, services.credentials


def get_accounts(services: Annotated[EdgeServices, Depends(get_services)],
                 ) -> tuple[AccountStore, Credentials]:
    return _accounts(services)


def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "owners and admins only")
    return principal


async def own_conversation(services: EdgeServices, principal: Principal,
                           cid: str) -> Conversation:
    """The caller's own conversation, or 404: another tenant's or another user's is
    indistinguishable from one that does not exist. A store outage is 503 (the error
    handler), never an unchecked accept: that would let a member write into (and, through
    the answer's history, read) a colleague's conversation."""
    found = services.owners.get(principal.tenant_id, cid)
    if found is None:
        found = await services.store.get_conversation(principal.tenant_id, cid)
        if found is not None:
            services.owners.put(found)  # an edge-local memory of a few seconds
    if found is None or found.user_id != principal.user_id:
        raise ApiError(404, "not_found", f"conversation {cid} not found")
    return found


async def get_own_conversation(cid: str,
                               services: Annotated[EdgeServices, Depends(get_services)],
                               principal: Annotated[Principal, Depends(get_principal)],
                               ) -> Conversation:
    return await own_conversation(services, principal, cid)


ServicesDep = Annotated[EdgeServices, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(get_admin)]
# Routes with a ``{cid}`` path parameter: the conversation, checked to be the caller's.
OwnConversation = Annotated[Conversation, Depends(get_own_conversation)]
AccountsDep = Annotated[tuple[AccountStore, Credentials], Depends(get_accounts)]
