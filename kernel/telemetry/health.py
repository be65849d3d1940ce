"""Readiness of a process' dependencies, and the small HTTP server of worker processes
(/healthz, /readyz, /metrics) so every process can be probed and scraped."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kernel.telemetry.metrics import exposition

__all__ = ("Checkable", "from_this_host", "metrics_allowed", "metrics_response", "readiness",
           "readiness_body", "worker_app")


class Checkable(Protocol):
    async def ready(self) -> tuple[bool, str]: ...


async def readiness(parts: Mapping[str, Checkable],
                    breakers: Callable[[], Mapping[str, str]] | None = None,
                    timeout_s: float = 10.0) -> tuple[bool, dict[str, Any]]:
    """Each part's verdict; the breakers' states are reported but do not make the
    process unready: failover routes around an open circuit, and a worker taken out of
    rotation would not take its partitions with it."""

    async def one(part: Checkable) -> tuple[bool, str]:
        try:
            return await asyncio.wait_for(part.ready(), timeout_s)
        except TimeoutError:
            return False, f"no answer in {timeout_s:g}s"

    names = list(parts)
    results = await asyncio.gather(*(one(parts[n]) for n in names))
    checks: dict[str, Any] = {n: {"ok": ok, "detail": detail}
                              for n, (ok, detail) in zip(names, results, strict=True)}
    ok = all(r[0] for r in results)
    if breakers is not None:
        states = dict(breakers())
        checks["providers"] = {"ok": all(s != "open" for s in states.values()),
                               "detail": "circuit breakers", "breakers": states}
    return ok, checks


# Headers a proxy adds: a request carrying one came from elsewhere, whatever its peer.
_FORWARDED = ("x-forwarded-for", "forwarded", "x-real-ip")


def from_this_host(peer: str | None, headers: Mapping[str, str]) -> bool:
    """Whether a request was made on this host: a loopback peer, and no proxy header
    saying it was relayed from elsewhere (a local proxy's peer is loopback too)."""
    try:
        loopback = peer is not None and ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
    return loopback and not any(name in headers for name in _FORWARDED)


def metrics_allowed(authorization: str | None, token: str, local: bool = False) -> bool:
    """No token configured: only a request made on this host (``local``), so an edge or
    worker reachable from a network never serves its figures to anyone. Otherwise
    ``Bearer <token>`` or basic auth with the token as password (any user name),
    compared in constant time."""
    if not token:
        return local
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode().partition(":")[2]
        except ValueError:
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.encode(), token.encode())


def metrics_response(authorization: str | None, token: str, local: bool) -> Response:
    if not metrics_allowed(authorization, token, local):
        message = "metrics need the metrics token" if token else \
            "metrics are served on this host only until CHATSTREAM_METRICS_TOKEN is set"
        return JSONResponse({"error": {"code": "unauthorized", "message": message}}, 401,
                            headers={"WWW-Authenticate": 'Basic realm="metrics"'})
    body, content_type = exposition()
    return Response(body, media_type=content_type)


def readiness_body(ok: bool, checks: dict[str, Any], authorization: str | None,
                   token: str) -> JSONResponse:
    """/readyz: each part's verdict for anyone (probes need no credential); the details
    (hosts, ports, keyspaces, breaker states) only with the operator's metrics token."""
    if not (token and metrics_allowed(authorization, token)):
        checks = {name: {"ok": c["ok"]} for name, c in checks.items()}
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                        200 if ok else 503)


def worker_app(ready: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]],
               metrics_token: str) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ok, checks = await ready()
        return readiness_body(ok, checks, request.headers.get("authorization"),
                              metrics_token)

    async def metrics(request: Request) -> Response:
        peer = request.client.host if request.client else None
        return metrics_response(request.headers.get("authorization"), metrics_token,
                                from_this_host(peer, request.headers))

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                             Route("/metrics", metrics)])
