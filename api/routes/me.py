"""``GET /v1/me``: who the caller is and how this edge authenticates, for the page."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import PrincipalDep, ServicesDep

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
