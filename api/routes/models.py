"""The configured models."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep
from schemas.http import ModelList, ModelOut

__all__ = ("router",)

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList)
async def list_models(services: ServicesDep) -> ModelList:
    return ModelList(data=[
        ModelOut(id=m.name, owned_by=m.provider_key, provider=m.provider,
                 description=m.description,
                 context_window=m.context_window, tier=m.tier, offline=m.offline,
                 tools=m.supports("tools"), vision=m.vision,
                 json_mode=m.supports("response_format"))
        for m in services.catalogue.models
    ])
