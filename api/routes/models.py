"""The configured models (the catalogue's, then the embedder's), and the caller's
tenant's assistants as ``assistant:NAME``, as OpenAI lists models."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import PrincipalDep, ServicesDep
from api.openai_compat.errors import openai_error
from api.services import EdgeServices
from schemas.assistants import ASSISTANT_MODEL_PREFIX
from schemas.catalogue import ModelSpec
from schemas.http import ModelList, ModelOut

__all__ = ("router",)

router = APIRouter(prefix="/v1/models", tags=["models"])


@functools.lru_cache(maxsize=4)
def _configured_at(path: Path | None) -> int:
    """When the catalogue was written: the ``created`` of its models."""
    found = path if path is not None else Path(str(resources.files("kernel") / "models.yaml"))
    try:
        return int(found.stat().st_mtime)
    except OSError:
        return 0


def _out(m: ModelSpec, created: int, why_not: str | None, **override: str) -> ModelOut:
    """``why_not``: why this install cannot serve the model (None: it can)."""
    out = ModelOut(id=m.name, created=created, owned_by=m.provider_key, provider=m.provider,
                   description=m.description, context_window=m.context_window, tier=m.tier,
                   offline=m.offline, tools=m.supports("tools"), vision=m.vision,
                   json_mode=m.supports("response_format"), available=why_not is None,
                   unavailable_reason=why_not)
    return out.model_copy(update=override)


def _embedder(services: EdgeServices, created: int) -> list[ModelOut]:
    embedder, settings = services.embedder, services.settings
    if embedder is None:
        return []
    return [ModelOut(id=embedder.space, created=created, owned_by="chatstream",
                     kind="embedding", provider=settings.embedder,
                     description="The embedder documents are indexed with "
                                 "(POST /v1/embeddings).",
                     # What one input may hold, in (estimated) tokens.
                     context_window=settings.max_message_chars // 4, tier="free",
                     offline=settings.embedder != "openai")]


async def _models(services: EdgeServices, tenant_id: str) -> list[ModelOut]:
    created = _configured_at(services.settings.models_file)
    data = [_out(m, created, services.unavailable.get(m.name))
            for m in services.catalogue.models]
    data += _embedder(services, created)
    if services.assistants is not None:
        for v in await services.assistants.store.list_latest(tenant_id):
            model = services.catalogue.get(v.spec.model or services.settings.default_model)
            if v.archived or model is None:
                continue
            data.append(_out(model, int(v.created_at.timestamp()),
                             services.unavailable.get(model.name),
                             id=f"{ASSISTANT_MODEL_PREFIX}{v.name}", owned_by=tenant_id,
                             provider="assistant",
                             description=v.spec.description or v.spec.title))
    return data


@router.get("", response_model=ModelList)
async def list_models(services: ServicesDep, principal: PrincipalDep) -> ModelList:
    """The catalogue's models (``kind: chat``), the embedder of ``/v1/embeddings``
    (``kind: embedding``), then the tenant's assistants (not archived), each named
    ``assistant:NAME`` and described by the model it answers with."""
    return ModelList(data=await _models(services, principal.tenant_id))


@router.get("/{model_id:path}", response_model=ModelOut)
async def get_model(model_id: str, services: ServicesDep,
                    principal: PrincipalDep) -> ModelOut | JSONResponse:
    """One model of the list; 404 ``model_not_found`` in OpenAI's shape otherwise."""
    for m in await _models(services, principal.tenant_id):
        if m.id == model_id:
            return m
    return openai_error(404, f"The model `{model_id}` does not exist; see GET /v1/models",
                        param="model", code="model_not_found")
