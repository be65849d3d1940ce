"""FastAPI dependencies as ``Annotated`` aliases, so route signatures stay short."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.types import Scope

from api.errors import ApiError
from api.guards.credentials import Credentials
from api.guards.sessions import Principal, identify
from api.guards.slots import USER_KEY
from api.services import EdgeServices
from stores.accounts.base import AccountStore
from stores.conversations.base import Conversation

__all__ = ("PRINCIPAL_KEY", "AccountsDep", "AdminDep", "OwnConversation", "Principal",
           "PrincipalDep", "ServicesDep", "authenticate", "own_conversation", "principal_of")

# Where :func:`authenticate` keeps the caller it found, in the request's ASGI scope.
PRINCIPAL_KEY = "chatstream.principal"


def get_services(request: Request) -> EdgeServices:
    services: EdgeServices = request.app.state.services
    return services


async def get_principal(services: Annotated[EdgeServices, Depends(get_services)],
                        request: Request) -> Principal:
    """The tenant and user come from the credential only, never from the request body."""
    return await principal_of(services, request.scope)


async def principal_of(services: EdgeServices, scope: Scope) -> Principal:
    """The caller of the request of ``scope``: the one the boundary found already, or
    found now from its headers (:func:`api.guards.sessions.identify`)."""
    found = scope.get(PRINCIPAL_KEY)
    if isinstance(found, Principal):
        # For the boundary middleware: whose stream a streamed response is.
        scope[USER_KEY] = (found.tenant_id, found.user_id)
        return found
    return await identify(services.settings, services.sessions, scope)


async def authenticate(services: EdgeServices, scope: Scope) -> str:
    """Check a request's credential before its body is read or its rate counted (the
    boundary calls it): an anonymous, forged, revoked or out-of-scope one is refused
    before the edge reads a byte of the body. The principal is kept in the scope, so the
    route does not check it twice; returned: who it is, ``tenant:user``."""
    principal = scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        principal = await identify(services.settings, services.sessions, scope)
        scope[PRINCIPAL_KEY] = principal
    return f"{principal.tenant_id}:{principal.user_id}"


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
