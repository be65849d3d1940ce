"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.guards.clients import local_client, networks
from kernel.telemetry.health import Checkable, metrics_response, readiness, readiness_body

__all__ = ("router",)

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep,
                 authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    """The log, the store, the vector index and the providers' circuit breakers
    (reported; an open circuit is routed around by failover). Details, which name
    backend addresses, only with the metrics token."""
    parts: dict[str, Checkable] = {"log": services.runtime, "store": services.store}
    if services.vectors is not None:
        parts["vectors"] = services.vectors
    ok, checks = await readiness(parts, services.breaker_states)
    return readiness_body(ok, checks, authorization,
                          services.settings.metrics_token.get_secret_value())


# HEAD where GET is answered (RFC 9110): uptime monitors and `curl -I` ask with it. The
# server sends the headers only.
for _probe in (healthz, readyz):
    router.add_api_route(f"/{_probe.__name__}", _probe, methods=["HEAD"],
                         include_in_schema=False)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(services: ServicesDep, request: Request,
                  authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus metrics: with METRICS_TOKEN set, only with that token; without one,
    only to a request made on this host."""
    settings = services.settings
    return metrics_response(authorization, settings.metrics_token.get_secret_value(),
                            local_client(request, networks(settings.trusted_proxies)))
