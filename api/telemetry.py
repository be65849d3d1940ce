"""The edge's request telemetry: a span per HTTP request (continuing a caller's
``traceparent``), request counts and latency by route template, and the request id
on every log line. A plain ASGI middleware, so SSE responses stream untouched."""

from __future__ import annotations

import os
import re
import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.telemetry import tracing
from kernel.telemetry.logs import request_id_var
from kernel.telemetry.metrics import HTTP_REQUESTS, HTTP_SECONDS

__all__ = ("TelemetryMiddleware", "request_id")

# A caller's id is taken only if it looks like one: short, and of characters that need
# no escaping in any log (a header can carry 64 KB of anything).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id(given: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is a plausible id, else a fresh one: 128
    random bits in hex (no UUID object built: this runs for every request)."""
    return given if given and _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()


def _route(scope: Scope) -> str:
    # The template (/v1/requests/{rid}/events), never the raw path: bounded cardinality.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The metrics' children by label values (bounded: route templates, methods and
        # statuses), looked up once each rather than through labels() per request.
        self._seconds: dict[tuple[str, str], Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}

    def _timed(self, route: str, method: str) -> Any:
        child = self._seconds.get((route, method))
        if child is None:
            child = self._seconds[route, method] = HTTP_SECONDS.labels(route, method)
        return child

    def _counted(self, route: str, method: str, status: int) -> Any:
        child = self._requests.get((route, method, status))
        if child is None:
            child = self._requests[route, method, status] = HTTP_REQUESTS.labels(
                route, method, str(status))
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        parent = None
        if tracing.enabled():
            parent = tracing.extract({k.decode("latin-1"): v.decode("latin-1")
                                      for k, v in scope["headers"]})
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
        token = request_id_var.set(request_id(given))
        status = 500
        started = time.perf_counter()
        timed = False

        with tracing.span(f"{method} {scope['path']}", parent, SpanKind.SERVER) as span:
            trace_id = span.get_span_context().trace_id

            async def send_(message: Message) -> None:
                nonlocal status, timed
                if message["type"] == "http.response.start":
                    status = message["status"]
                    if not timed:
                        timed = True
                        self._timed(_route(scope), method).observe(
                            time.perf_counter() - started)
                    if trace_id:
                        extra: list[Any] = [(b"x-trace-id", f"{trace_id:032x}".encode())]
                        message = {**message, "headers": [*message.get("headers", ()),
                                                          *extra]}
                await send(message)

            try:
                await self.app(scope, receive, send_)
            finally:
                route = _route(scope)
                self._counted(route, method, status).inc()
                if span.is_recording():
                    span.update_name(f"{method} {route}")
                    span.set_attributes({"http.request.method": method, "http.route": route,
                                         "http.response.status_code": status})
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                request_id_var.reset(token)
