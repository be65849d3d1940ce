"""Batch jobs: many prompts answered through the pipeline at a lower priority."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.batches import BatchState, BatchView
from api.deps import PrincipalDep, ServicesDep
from api.errors import ApiError
from schemas.batches import BatchCreate, BatchOut, BatchResult
from schemas.events import BatchCancelled, BatchSubmitted
from schemas.topics import BATCH_REQUESTS, BATCH_STATUS

__all__ = ("router",)

router = APIRouter(prefix="/v1/batches", tags=["batches"])


def _view(services: ServicesDep) -> BatchView:
    if services.batches is None:
        raise ApiError(503, "batches_unavailable", "this edge does not serve batches")
    return services.batches


def _out(state: BatchState) -> BatchOut:
    b = state.submitted
    return BatchOut(id=b.batch_id, status=state.status,
                    model=b.model, total=len(b.prompts), completed=len(state.results),
                    created_at=b.occurred_at, results_url=f"/v1/batches/{b.batch_id}/results")


def _find(services: ServicesDep, tenant_id: str, batch_id: str) -> BatchState:
    state = _view(services).get(tenant_id, batch_id)
    if state is None:
        raise ApiError(404, "not_found", f"batch {batch_id} not found")
    return state


@router.post("", status_code=202, response_model=BatchOut)
async def submit(body: BatchCreate, services: ServicesDep,
                 principal: PrincipalDep) -> BatchOut:
    """Queue the prompts; they are answered a few at a time (BATCH_IN_FLIGHT), each in a
    conversation of its own, so live chat keeps its latency."""
    settings = services.settings
    if len(body.prompts) > settings.batch_max_prompts:
        raise ApiError(413, "batch_too_large",
                       f"at most {settings.batch_max_prompts} prompts per batch")
    too_long = [i for i, p in enumerate(body.prompts)
                if not p.strip() or len(p) > settings.max_message_chars]
    if too_long:
        raise ApiError(422, "invalid_prompt", f"prompt {too_long[0]} is empty or over "
                       f"{settings.max_message_chars} characters")
    model = body.model or settings.default_model
    if services.catalogue.get(model) is None:
        raise ApiError(422, "unknown_model", f"unknown model {model}")
    batch_id = str(uuid.uuid4())
    event = BatchSubmitted(tenant_id=principal.tenant_id, batch_id=batch_id,
                           user_id=principal.user_id, model=model, options=body.options,
                           prompts=tuple(body.prompts))
    await services.runtime.publisher.publish(
        BATCH_REQUESTS, f"{principal.tenant_id}:{batch_id}", event)
    view = _view(services)
    view.apply(event)  # readable at once on this replica; the others read the topic
    state = view.get(principal.tenant_id, batch_id)
    assert state is not None
    return _out(state)


@router.get("/{batch_id}", response_model=BatchOut)
async def progress(batch_id: str, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    return _out(_find(services, principal.tenant_id, batch_id))


@router.post("/{batch_id}/cancel", status_code=202, response_model=BatchOut)
async def cancel(batch_id: str, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    """Prompts not yet fed are dropped; those being answered finish and are kept."""
    state = _find(services, principal.tenant_id, batch_id)
    if state.status == "completed":
        raise ApiError(409, "already_finished", f"batch {batch_id} has already finished")
    event = BatchCancelled(tenant_id=principal.tenant_id, batch_id=batch_id,
                           user_id=principal.user_id)
    await services.runtime.publisher.publish(
        BATCH_STATUS, f"{principal.tenant_id}:{batch_id}", event)
    _view(services).apply(event)
    return _out(state)


@router.get("/{batch_id}/results", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}}})
async def results(batch_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """The answers so far as JSON Lines, one `BatchResult` per line, in prompt order."""
    state = _find(services, principal.tenant_id, batch_id)
    lines = [BatchResult(index=i, prompt=prompt, request_id=done.request_id, text=done.text,
                         model=done.model, finish_reason=done.finish_reason,
                         usage=done.usage.model_dump()).model_dump_json()
             for i, prompt, done in _view(services).items(state)]
    return Response("".join(line + "\n" for line in lines),
                    media_type="application/x-ndjson", headers={
                        "Content-Disposition": f'attachment; filename="{batch_id}.jsonl"'})


