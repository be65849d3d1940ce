"""Analytics of the caller's tenant: windowed aggregates computed by the analytics group."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api.deps import AdminDep, ServicesDep, get_admin, get_principal
from api.errors import ApiError
from api.views.analytics import AnalyticsView
from kernel.telemetry.health import metrics_allowed
from schemas.analytics import AnalyticsSummary

__all__ = ("router",)

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


def _view(services: ServicesDep) -> AnalyticsView:
    if services.analytics is None:
        raise ApiError(503, "analytics_unavailable", "this edge does not read analytics")
    return services.analytics


@router.get("/summary", response_model=AnalyticsSummary)
async def summary(
    services: ServicesDep, principal: AdminDep,
    granularity: Literal["minutes", "hours"] = "minutes",
    since: Annotated[datetime | None, Query(description="windows starting at or after")] = None,
) -> AnalyticsSummary:
    """Per-minute or per-hour windows (event time) of the tenant: messages, tokens, mean
    quality, intent and sentiment mix, leads, p95 time to first token by model, and the
    totals over the windows returned."""
    return _view(services).summary(principal.tenant_id, granularity, since)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(services: ServicesDep, request: Request,
                  authorization: Annotated[str | None, Header()] = None) -> Response:
    """The current hour as Prometheus gauges: the caller's tenant for its admins; every
    tenant only with the operator's METRICS_TOKEN (for the operator's scraper)."""
    view = _view(services)
    operator = services.settings.metrics_token.get_secret_value()
    if operator and metrics_allowed(authorization, operator):
        collector = view.collector()
    else:
        principal = get_admin(await get_principal(services, request))
        collector = view.collector(principal.tenant_id)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
