"""The edge's app factory. Nothing is connected here: the lifespan owner starts the
services (the composition root in :mod:`chatstream.compose`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.routes import (
    admin,
    analytics,
    auth,
    batches,
    completions,
    conversations,
    documents,
    health,
    keys,
    me,
    models,
    public,
    requests,
    status,
    web,
)
from api.services import EdgeServices
from api.telemetry import TelemetryMiddleware

__all__ = ("create_app",)


def create_app(services: EdgeServices) -> FastAPI:
    app = FastAPI(title="chatstream", version="0.1.0",
                  description="Event-driven AI chat on Kafka: messages in, tokens out over SSE.")
    app.state.services = services
    install_error_handlers(app)
    limit = services.settings.max_message_chars * 4 + 65_536
    upload_limit = services.settings.max_document_bytes + 65_536  # the file and the form

    @app.middleware("http")
    async def body_limit(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # Refuse oversized JSON before parsing it; the message limit itself is checked
        # (with a precise message) by the route.
        length = request.headers.get("content-length")
        kind = request.headers.get("content-type", "")
        if length and length.isdigit() and int(length) > limit and kind.startswith(
                "application/json"):
            return JSONResponse({"error": {"code": "payload_too_large",
                                           "message": f"body over {limit} bytes"}}, 413)
        if length and length.isdigit() and int(length) > upload_limit and kind.startswith(
                "multipart/form-data"):
            # Refused before a byte of it is read; the route checks the file itself too.
            return JSONResponse({"error": {"code": "document_too_large", "message":
                                 f"upload over {services.settings.max_document_bytes} bytes"}},
                                413)
        return await call_next(request)

    for r in (conversations.router, requests.router, completions.router, models.router,
              documents.router, health.router, auth.router, keys.router, admin.router,
              admin.usage_router, public.router, analytics.router, batches.router,
              me.router, status.router):
        app.include_router(r)
    web.mount(app)
    install_openapi(app)
    # Outermost: it times and counts every request, the refused ones included.
    app.add_middleware(TelemetryMiddleware)
    return app
