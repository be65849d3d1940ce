"""Routes served as plain ASGI endpoints and documented by FastAPI like any other.

A hot route is a :class:`HotRoute` (method, path template, endpoint) declared on its
router with :func:`documented`: FastAPI reads the decorated function's signature
(parameters, body, responses) and docstring for the OpenAPI document, and is never asked
to serve it. :class:`HotPath`, in front of the framework and behind the boundary, hands a
request for a hot route to its endpoint: no routing table walk, no dependency solving, no
framework middleware. Everything else goes on to FastAPI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from api.asgi.call import Call
from api.services import EdgeServices

__all__ = ("Endpoint", "HotPath", "HotRoute", "documented")

log = logging.getLogger(__name__)

Endpoint = Callable[[Call], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class HotRoute:
    method: str
    path: str
    """The template (``/v1/requests/{rid}/events``): OpenAPI's, and the metrics' label."""
    serve: Endpoint
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        # Starlette's own compilation of the template: what FastAPI would match, this does.
        object.__setattr__(self, "regex", compile_path(self.path)[0])


def documented(router: APIRouter, route: HotRoute, **openapi: Any) -> Callable[[F], F]:
    """Declare ``route`` on ``router`` for the OpenAPI document only: the decorated
    function's signature says its parameters and body, its docstring what it does,
    ``openapi`` the rest (``status_code``, ``response_model``, ``responses``…), as for
    any route. Its operation is named after the endpoint."""
    if not route.path.startswith(router.prefix):
        raise ValueError(f"{route.path} is not under {router.prefix}")

    def declare(signature: F) -> F:
        router.add_api_route(route.path.removeprefix(router.prefix), signature,
                             methods=[route.method], name=route.serve.__name__, **openapi)
        return signature

    return declare


class HotPath:
    """An ASGI layer: a request for one of ``routes`` is served by its endpoint; any other
    goes to ``framework``."""

    def __init__(self, routes: Sequence[HotRoute], services: EdgeServices,
                 framework: ASGIApp) -> None:
        self._routes: dict[str, list[HotRoute]] = {}
        for r in routes:
            self._routes.setdefault(r.method, []).append(r)
        self._services = services
        self._framework = framework

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self._routes.get(scope["method"], ()):
                found = route.regex.match(scope["path"])
                if found is not None:
                    scope["route"] = route  # the telemetry names the request after it
                    await _serve(route, Call(scope, receive, send, self._services,
                                             found.groupdict()))
                    return
        await self._framework(scope, receive, send)


async def _serve(route: HotRoute, call: Call) -> None:
    """The endpoint, its errors answered as the edge answers every error."""
    try:
        await route.serve(call)
    except Exception as exc:
        if call.started:
            raise  # nothing can be answered any more: the server drops the connection
        await call.fail(exc)
