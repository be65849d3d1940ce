"""``GET /v1/admin/status``: the pipeline's health for the page's status view.

Read from this process' own metrics: every process measures every stage's consumer lag
(``lag_monitor``), so lag is complete on any edge; events and errors are counted by the
process that runs the stage, so on an edge without stages they are absent (``null``) and
``chatstream status`` with each worker's ``--metrics`` is the full view. Only aggregate
counts leave here: nothing of any tenant's content. Still, the traffic of a deployment is
every tenant's together, so only the operator's tenant (``OPERATOR_TENANT``) sees it.
"""

from __future__ import annotations

import time
from collections import defaultdict

from fastapi import APIRouter
from prometheus_client import REGISTRY
from pydantic import BaseModel

from api.deps import AdminDep, ServicesDep
from api.errors import ApiError

__all__ = ("router",)

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class StageHealth(BaseModel):
    stage: str
    lag: int
    handled: float | None
    errors: float | None
    dead_letters: float | None


class StatusOut(BaseModel):
    at: float
    stages: list[StageHealth]
    breakers: dict[str, str]


def _samples() -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    lag: dict[str, float] = defaultdict(float)
    events: dict[tuple[str, str], float] = defaultdict(float)
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == "chatstream_consumer_lag":
                lag[s.labels["stage"]] += s.value
            elif s.name == "chatstream_stage_events_total":
                events[(s.labels["stage"], s.labels["outcome"])] += s.value
    return lag, events


@router.get("/status", response_model=StatusOut)
async def status(services: ServicesDep, principal: AdminDep) -> StatusOut:
    if not principal.is_operator(services.settings):
        raise ApiError(403, "forbidden", "the pipeline's status is for the operator's "
                       "tenant (OPERATOR_TENANT)")
    lag, events = _samples()
    ran = {stage for stage, _ in events}
    stages = []
    # Every stage's lag is measured here, so the lag samples name every stage.
    for name in sorted(set(lag) | ran):
        here = name in ran
        stages.append(StageHealth(
            stage=name, lag=int(lag.get(name, 0)),
            handled=events.get((name, "in"), 0.0) if here else None,
            errors=events.get((name, "error"), 0.0) if here else None,
            dead_letters=events.get((name, "dead_letter"), 0.0) if here else None))
    breakers = dict(services.breaker_states()) if services.breaker_states else {}
    return StatusOut(at=time.time(), stages=stages, breakers=breakers)
