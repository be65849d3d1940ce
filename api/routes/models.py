"""The configured models, and the caller's tenant's assistants as ``assistant:NAME``."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep, ServicesDep
from schemas.assistants import ASSISTANT_MODEL_PREFIX
from schemas.catalogue import ModelSpec
from schemas.http import ModelList, ModelOut

__all__ = ("router",)

router = APIRouter(prefix="/v1/models", tags=["models"])


def _out(m: ModelSpec, **override: str) -> ModelOut:
    out = ModelOut(id=m.name, owned_by=m.provider_key, provider=m.provider,
                   description=m.description, context_window=m.context_window, tier=m.tier,
                   offline=m.offline, tools=m.supports("tools"), vision=m.vision,
                   json_mode=m.supports("response_format"))
    return out.model_copy(update=override)


@router.get("", response_model=ModelList)
async def list_models(services: ServicesDep, principal: PrincipalDep) -> ModelList:
    """The catalogue's models, then the tenant's assistants (not archived), each named
    ``assistant:NAME`` and described by the model it answers with."""
    data = [_out(m) for m in services.catalogue.models]
    if services.assistants is not None:
        for v in await services.assistants.store.list_latest(principal.tenant_id):
            model = services.catalogue.get(v.spec.model or services.settings.default_model)
            if v.archived or model is None:
                continue
            data.append(_out(model, id=f"{ASSISTANT_MODEL_PREFIX}{v.name}",
                             owned_by=principal.tenant_id, provider="assistant",
                             description=v.spec.description or v.spec.title))
    return ModelList(data=data)
