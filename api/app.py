"""The edge's app factory. Nothing is connected here: the lifespan owner starts the
services (the composition root in :mod:`chatstream.compose`).

Every HTTP request passes the edge's own layers first: the telemetry, then the boundary's
checks; then a hot route (:mod:`api.asgi`) is served by its ASGI endpoint, and anything
else by FastAPI (its error handling, routing and dependencies)."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from api.asgi.route import HotPath
from api.deps import authenticate
from api.errors import install_error_handlers
from api.guards.boundary import Boundary, BoundaryMiddleware
from api.guards.clients import networks
from api.guards.slots import StreamSlots
from api.guards.throttle import RouteThrottle, Throttle
from api.openapi import install_docs, install_openapi
from api.routes import (
    admin,
    analytics,
    assistants,
    auth,
    batches,
    completions,
    conversations,
    documents,
    embeddings,
    health,
    keys,
    me,
    memories,
    messages,
    models,
    public,
    requests,
    responses,
    status,
    users,
    web,
)
from api.services import EdgeServices
from api.telemetry import TelemetryMiddleware

__all__ = ("Edge", "create_app")

# Served as plain ASGI endpoints (api/asgi): each request of the pipeline's hot path.
HOT_ROUTES = (messages.POST_MESSAGE, requests.EVENTS, completions.CHAT_COMPLETIONS)


class Edge(FastAPI):
    """The FastAPI app with the edge's own layers in front of it (``front``)."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.front is not None:
            scope["app"] = self
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(services: EdgeServices) -> Edge:
    # /docs is the edge's own (api/openapi.py): FastAPI's loads Swagger UI from a CDN.
    app = Edge(title="chatstream", version="0.1.0", docs_url=None, redoc_url=None,
               description="Event-driven AI chat on Kafka: messages in, tokens out over SSE.")
    app.state.services = services
    app.state.stream_slots = StreamSlots(services.settings.max_streams_per_user)
    install_error_handlers(app)
    for r in (conversations.router, messages.router, requests.router, completions.router,
              models.router, documents.router, health.router, auth.router, keys.router,
              admin.router, admin.usage_router, public.router, analytics.router, batches.router,
              embeddings.router, responses.router, me.router, status.router, users.router,
              assistants.router, assistants.conversation_router, memories.router):
        app.include_router(r)
    web.mount(app)
    install_openapi(app)
    install_docs(app)
    settings = services.settings
    # FastAPI itself, behind the layers below, for every route but the hot ones.
    framework = partial(FastAPI.__call__, app)
    hot = HotPath(HOT_ROUTES, services, framework)
    boundary = BoundaryMiddleware(hot, Boundary(
        max_json_bytes=settings.max_json_bytes,
        max_upload_bytes=settings.max_document_bytes + 65_536,  # the file and the form
        allowed_hosts=frozenset(h.lower() for h in settings.dev_allowed_hosts)
        if settings.auth == "dev" else frozenset(),
        max_in_flight=settings.max_concurrent_requests,
        send_timeout_s=settings.sse_send_timeout_s,
        slots=app.state.stream_slots,
        authenticate=partial(authenticate, services) if settings.auth == "jwt" else None,
        throttles=(
            RouteThrottle("stream reads", "GET", r"/v1/requests/[^/]+/events",
                          Throttle(settings.stream_reads_per_minute)),
            RouteThrottle("cancels", "POST", r"/v1/requests/[^/]+/cancel",
                          Throttle(settings.cancels_per_minute)),
            RouteThrottle("refreshes", "POST", r"/v1/auth/refresh",
                          Throttle(settings.refreshes_per_minute), by_user=False)),
        trusted=networks(settings.trusted_proxies)))
    # Outermost: it times and counts every request, the refused ones included.
    app.front = TelemetryMiddleware(boundary)
    return app
