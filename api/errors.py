"""Every error leaves the edge as JSON ``{"error": {"code", "message"}}`` with its status."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernel.errors import ChatstreamError, EventTooLarge, LogUnavailable, StoreUnavailable

__all__ = ("ApiError", "error_body", "error_of", "install_error_handlers", "invalid",
           "invalid_message")

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
          415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited",
          503: "unavailable"}


class ApiError(ChatstreamError):
    """An HTTP answer given on purpose: ``{"error": {code, message}}`` with ``status``;
    ``param`` names the request field at fault, when one is."""

    def __init__(self, status: int, code: str, message: str,
                 headers: Mapping[str, str] | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.param = param


# OpenAI's error types by status, so a body is in OpenAI's shape too.
_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
          409: "conflict_error", 429: "rate_limit_error"}


def error_body(status: int, code: str, message: str,
               param: str | None = None) -> dict[str, dict[str, str | None]]:
    """The one error body: chatstream's ``code`` and ``message``, which are also OpenAI's,
    with OpenAI's ``type`` and ``param``, so the SDKs read every error of the edge."""
    kind = _TYPES.get(status) or ("server_error" if status >= 500
                                  else "invalid_request_error")
    return {"error": {"code": code, "message": message, "type": kind, "param": param}}


def error_of(exc: Exception) -> tuple[int, dict[str, dict[str, str | None]],
                                    Mapping[str, str] | None]:
    """The status, body and headers every error of the edge is answered with, whichever
    layer answers it (FastAPI's handlers, or a pure-ASGI route)."""
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.status, exc.code, exc.message, exc.param), \
            exc.headers
    if isinstance(exc, EventTooLarge):
        # The request (with the history a client sent) is larger than the log takes.
        return 413, error_body(413, "payload_too_large", "the request is larger than the "
                               "log accepts; send less history"), None
    if isinstance(exc, StoreUnavailable | LogUnavailable):
        what = "store" if isinstance(exc, StoreUnavailable) else "log"
        log.warning("%s unavailable: %s", what, exc)
        return 503, error_body(503, "unavailable", f"the {what} is unavailable; retry "
                               "shortly"), {"Retry-After": "5"}
    log.exception("unhandled error", exc_info=exc)
    return 500, error_body(500, "internal", "internal error"), None


def _where(error: Mapping[str, Any], prefix: str) -> str:
    return ".".join(str(p) for p in error.get("loc", ()) if p != prefix)


def invalid_message(errors: Sequence[Mapping[str, Any]], prefix: str = "body") -> str:
    """A request's validation errors as one line: ``field: what is wrong`` for the first
    few, the field named without ``prefix``."""
    parts = []
    for e in errors[:5]:
        where = _where(e, prefix)
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "; ".join(parts)


def invalid(errors: Sequence[Mapping[str, Any]], prefix: str = "body") -> ApiError:
    """The 422 of a request's validation errors: the message names the first few fields,
    ``param`` the first (as OpenAI's errors do), when there is one."""
    return ApiError(422, "invalid_request", invalid_message(errors, prefix),
                    param=(_where(errors[0], prefix) or None) if errors else None)


def install_error_handlers(app: FastAPI) -> None:
    async def answer(_: Request, exc: Exception) -> JSONResponse:
        status, body, headers = error_of(exc)
        return JSONResponse(body, status, headers=headers)

    for kind in (ApiError, EventTooLarge, StoreUnavailable, LogUnavailable, Exception):
        app.add_exception_handler(kind, answer)

    @app.exception_handler(RequestValidationError)
    async def not_valid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(error_body(422, "invalid_json", "the body is not valid JSON"),
                                422)
        status, body, headers = error_of(invalid(errors))
        return JSONResponse(body, status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(exc.status_code, code, str(exc.detail)),
                            exc.status_code, headers=getattr(exc, "headers", None))
