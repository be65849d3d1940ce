"""FastAPI dependencies as ``Annotated`` aliases, so route signatures stay short."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.services import EdgeServices

__all__ = ("Principal", "PrincipalDep", "ServicesDep")


def get_services(request: Request) -> EdgeServices:
    services: EdgeServices = request.app.state.services
    return services


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    user_id: str


def get_principal(services: Annotated[EdgeServices, Depends(get_services)],
                  request: Request) -> Principal:
    # AUTH=dev: one local user, for `chatstream up` on a laptop; the tenant is "dev"
    # unless X-Dev-Tenant names another, to try several tenants locally (and in tests).
    # Branch tenancy replaces this with real principals.
    tenant = request.headers.get("X-Dev-Tenant", "dev")
    return Principal(tenant_id=tenant or "dev", user_id="dev")


ServicesDep = Annotated[EdgeServices, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
