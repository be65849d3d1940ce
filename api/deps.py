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


def get_principal(services: Annotated[EdgeServices, Depends(get_services)]) -> Principal:
    # AUTH=dev: one local tenant and user, for `chatstream up` on a laptop.
    return Principal(tenant_id="dev", user_id="dev")


ServicesDep = Annotated[EdgeServices, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
