"""Batch jobs: many prompts answered through the pipeline at a lower priority."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Response

from api.deps import Principal, PrincipalDep, ServicesDep
from api.errors import ApiError
from api.guards.limits import count
from api.openai_compat.completions_input import BadField, native_options
from api.services import EdgeServices
from api.views.batches import BatchState, BatchView
from kernel.tokens import estimate_tokens
from schemas.batches import BatchCreate, BatchOut, BatchResult
from schemas.events import BatchCancelled, BatchSubmitted
from schemas.topics import BATCH_REQUESTS, BATCH_STATUS

__all__ = ("router",)

router = APIRouter(prefix="/v1/batches", tags=["batches"])

# A claimed place whose batch no edge's view has read this long after is taken for one
# that was never queued (its edge failed between the claim and the publish).
UNSEEN_BATCH_S = 60.0


def _view(services: ServicesDep) -> BatchView:
    if services.batches is None:
        raise ApiError(503, "batches_unavailable", "this edge does not serve batches")
    return services.batches


def _out(state: BatchState) -> BatchOut:
    b = state.submitted
    return BatchOut(id=b.batch_id, status=state.status,
                    model=b.model, total=len(b.prompts), completed=len(state.results),
                    created_at=b.occurred_at, results_url=f"/v1/batches/{b.batch_id}/results")


def _find(services: ServicesDep, principal: Principal, batch_id: str) -> BatchState:
    """The batch, if the caller submitted it or is an admin of its tenant; 404 for
    everyone else (another member's batch is as absent as another tenant's)."""
    state = _view(services).get(principal.tenant_id, batch_id)
    if state is None or (state.submitted.user_id != principal.user_id
                         and not principal.is_admin):
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
    spec = services.catalogue.get(model)
    if spec is None:
        raise ApiError(422, "unknown_model", f"unknown model {model}")
    try:
        options = native_options(body.options, spec)
    except BadField as exc:
        raise ApiError(422, exc.code, exc.message) from None
    view = _view(services)
    # Every prompt is a message of the plan, counted now; its answer's tokens are
    # counted as it finishes, and the prompts alone must still fit in the month.
    max_tokens = options.get("max_tokens")
    expected = sum(estimate_tokens(p) for p in body.prompts) + len(body.prompts) * (
        max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 0)
    event = BatchSubmitted(tenant_id=principal.tenant_id, batch_id=str(uuid.uuid4()),
                           user_id=principal.user_id, model=model, options=options,
                           prompts=tuple(body.prompts))
    place = await _take_place(services, view, event)
    try:
        spent = await count(services, principal, messages=len(body.prompts),
                            tokens=expected)
        try:
            await services.runtime.publisher.publish(
                BATCH_REQUESTS, f"{principal.tenant_id}:{event.batch_id}", event)
        except BaseException:
            spent.put_back()
            raise
    except BaseException:
        await place.give_back()
        raise
    view.apply(event)  # readable at once on this replica; the others read the topic
    state = view.get(principal.tenant_id, event.batch_id)
    assert state is not None
    return _out(state)


@dataclass
class _Place:
    """A tenant's place for one active batch, given back if the batch is not queued."""

    services: EdgeServices
    view: BatchView
    event: BatchSubmitted

    async def give_back(self) -> None:
        if self.services.accounts is None:
            self.view.discard(self.event.tenant_id, self.event.batch_id)
        else:
            await self.services.accounts.unclaim(_places(self.event.tenant_id),
                                                 self.event.batch_id)


def _places(tenant_id: str) -> str:
    return f"batches:{tenant_id}"


async def _take_place(services: EdgeServices, view: BatchView,
                      event: BatchSubmitted) -> _Place:
    """One of the tenant's BATCH_MAX_ACTIVE_PER_TENANT places (fair between tenants: a
    tenant's queue ahead of the others' is a few batches long), taken in one step: in
    the account store every replica shares, or (no accounts: one process) in the view
    itself, before anything is awaited. 429 when every place is held."""
    cap = services.settings.batch_max_active_per_tenant
    tenant_id = event.tenant_id
    if services.accounts is None:
        taken = view.active(tenant_id) < cap
        if taken:
            view.apply(event)
    else:
        def ended(batch_id: str, since: float) -> bool:
            state = view.get(tenant_id, batch_id)
            if state is None:  # not on the topic a minute after its claim: never queued
                return time.time() - since > UNSEEN_BATCH_S
            return state.status in ("completed", "cancelled")

        taken = await services.accounts.claim(_places(tenant_id), event.batch_id, cap,
                                              int(view.lookback_s), ended)
    if not taken:
        raise ApiError(429, "too_many_batches", f"this tenant already has {cap} batches "
                       "queued or running; retry when one finishes",
                       headers={"Retry-After": "30"})
    return _Place(services, view, event)


@router.get("/{batch_id}", response_model=BatchOut)
async def progress(batch_id: str, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    return _out(_find(services, principal, batch_id))


@router.post("/{batch_id}/cancel", status_code=202, response_model=BatchOut)
async def cancel(batch_id: str, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    """Prompts not yet fed are dropped; those being answered finish and are kept."""
    state = _find(services, principal, batch_id)
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
    state = _find(services, principal, batch_id)
    lines = [BatchResult(index=i, prompt=prompt, request_id=done.request_id, text=done.text,
                         model=done.model, finish_reason=done.finish_reason,
                         usage=done.usage.model_dump()).model_dump_json()
             for i, prompt, done in _view(services).items(state)]
    return Response("".join(line + "\n" for line in lines),
                    media_type="application/x-ndjson", headers={
                        "Content-Disposition": f'attachment; filename="{batch_id}.jsonl"'})


