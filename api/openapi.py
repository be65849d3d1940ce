"""The OpenAPI document at ``/openapi.json`` (and ``/docs``), made to say what the edge does:

- an HTTP Bearer scheme (an access token or an API key), so ``/docs``' Authorize works,
  required on every route but the public ones;
- every error a route can answer, with the one error shape
  ``{"error": {code, message, type, param}}`` (chatstream's keys, which are OpenAI's too),
  instead of FastAPI's default 422 body, which the edge never sends;
- the stream of ``GET /v1/requests/{rid}/events`` described event by event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from api.errors import ApiError

__all__ = ("DOCS_CSP", "PUBLIC_PATHS", "install_docs", "install_openapi", "is_public")

# Answered without a credential.
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/v1/auth/token", "/v1/auth/refresh",
                "/v1/public/")

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "type", "param"],
        "properties": {"code": {"type": "string", "examples": ["not_found"]},
                       "message": {"type": "string"},
                       "type": {"type": "string", "examples": ["not_found_error"]},
                       "param": {"type": ["string", "null"]}}}},
}

_WHY = {
    "401": "no credential, or an expired or unknown one",
    "403": "the caller's role may not do this",
    "404": "not found, or not the caller's (the two are not told apart)",
    "413": "the body or a field is over its limit",
    "415": "the body is not of a type this route reads",
    "422": "the request does not match the schema; the message names the field",
    "429": "a rate limit or a plan's quota; Retry-After says when to try again",
    "503": "the log or the store is unavailable; Retry-After says when to try again",
}

_SSE = """Server-Sent Events of one answer. Each event's `id` is its position in the answer's
stream; reconnect with `Last-Event-ID` (or `?last_event_id=`) to resume after it, on any edge.

| event | data |
|---|---|
| `status` | `{"state": "generating", "model", "provider"}` |
| `citations` | `{"citations": [{"document_id", "title", "chunk", ...}]}` |
| `token` | `{"text", "seq"}` |
| `restart` | `{"attempt"}`: a worker took over; drop the partial text |
| `done` | `{"message_id", "usage", "finish_reason"}`: the last event |
| `error` | `{"code", "message"}`: the last event |
"""


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC_PATHS)


def _errors_of(path: str, method: str, op: dict[str, Any], admin: bool) -> list[str]:
    codes = ["503"]
    if not is_public(path):
        codes += ["401", "429"]
    if admin:
        codes.append("403")
    if "{" in path:
        codes.append("404")
    if op.get("parameters") or op.get("requestBody"):
        codes.append("422")
    if method in ("post", "put", "patch") and op.get("requestBody"):
        codes += ["413", "415"]
    return sorted(set(codes))


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def _schema_ref(response: dict[str, Any] | None) -> str | None:
    if not response:
        return None
    ref: str | None = (response.get("content", {}).get("application/json", {})
                       .get("schema", {}).get("$ref"))
    return ref


def _own_error_shape(responses: dict[str, Any]) -> dict[str, Any] | None:
    for code, response in responses.items():
        ref = _schema_ref(response)
        if code[:1] in ("4", "5") and ref not in (None, _FASTAPI_422):
            content: dict[str, Any] = response["content"]
            return content
    return None


def _hoist_definitions(op: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A request schema given whole by a route (pydantic's, with its ``$defs``) has its
    definitions moved to the components, where its references point."""
    for media in op.get("requestBody", {}).get("content", {}).values():
        schemas.update(media.get("schema", {}).pop("$defs", {}))


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for fastapi_shape in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_shape, None)
    schemas["Error"] = _ERROR
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "An access token from POST /v1/auth/token, or an API key (cs_...). "
                       "With CHATSTREAM_AUTH=dev (a laptop) no credential is needed."}}
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            if not is_public(path):
                op["security"] = [{"bearer": []}]
            _hoist_definitions(op, schemas)
            admin = "admin" in op.get("tags", ())
            responses = op["responses"]
            # A route with an error shape of its own (the OpenAI-compatible ones answer in
            # OpenAI's) keeps it for every error; the others get the edge's.
            shape = _own_error_shape(responses) or ref
            for code in _errors_of(path, method, op, admin):
                if _schema_ref(responses.get(code)) in (None, _FASTAPI_422):
                    responses[code] = {"description": _WHY[code], "content": shape}
            for code, response in responses.items():  # declared by the route, without a body
                if code[:1] in ("4", "5") and "content" not in response:
                    response["content"] = shape
            if path.endswith("/events") and method == "get":
                responses["200"] = {"description": _SSE, "content": {
                    "text/event-stream": {"schema": {"type": "string"}}}}
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# /docs is Swagger UI served by this edge from the swagger-ui-bundle-v2 package, under a
# policy that lets it load nothing from another origin: a script from a CDN would run with
# the edge's origin (the page's tokens, the whole API), and a laptop needs no network.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
_DOCS_HEADERS = {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"}
_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>chatstream API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
# No inline script: the policy allows none.
_DOCS_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", layout: "BaseLayout", deepLinking: true,
  showExtensions: true, showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
_DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                "favicon-32x32.png": "image/png"}


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI over ``/openapi.json``, every file of it from this edge."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_DOCS_HTML, headers=_DOCS_HEADERS)

    @app.get("/docs/init.js", include_in_schema=False)
    async def init() -> Response:
        return Response(_DOCS_INIT, media_type="text/javascript", headers=_DOCS_HEADERS)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        kind = _DOCS_ASSETS.get(name)
        if kind is None:
            raise ApiError(404, "not_found", f"no asset {name}")
        return FileResponse(Path(str(swagger_ui_path / name)), media_type=kind,
                            headers=_DOCS_HEADERS)
