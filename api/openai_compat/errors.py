"""Errors in OpenAI's shape: a JSON response before an answer starts, an error event or
object once it has (:class:`api.relay.events.Failed` carries what it needs)."""

from __future__ import annotations

import math

import orjson
from fastapi.responses import JSONResponse

from api.relay.events import Failed, Restarted
from schemas.completions import OpenAIError, OpenAIErrorBody

__all__ = ("answer_error", "error_body", "failure_body", "failure_event", "openai_error",
           "restart_failure", "status_of")

# Error codes of the pipeline as HTTP statuses, when the error event does not say.
_STATUS = {"unknown_model": 404, "provider_unavailable": 503, "provider_error": 502}


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> OpenAIErrorBody:
    return OpenAIErrorBody(message=message, type=type, param=param, code=code)


def status_of(e: Failed) -> int:
    """The HTTP status of a failed answer: the pipeline's (an upstream's refusal keeps the
    upstream's own), else by its code."""
    return e.status or _STATUS.get(e.code, 502)


def failure_body(e: Failed) -> OpenAIErrorBody:
    """A failed answer's error as OpenAI describes one."""
    return error_body(e.message, type=e.error_type or "server_error", param=e.param,
                      code=e.code)


def failure_event(e: Failed) -> bytes:
    """A failure after a stream began, as OpenAI sends one (the SDKs raise it as
    ``APIError``): the error object, and ``status``, the HTTP status it would have had."""
    return orjson.dumps({"error": {**failure_body(e).model_dump(), "status": status_of(e)}})


def answer_error(e: Failed | None, headers: dict[str, str] | None = None) -> JSONResponse:
    """The response to a request whose answer failed (``e``) before anything was sent, or
    ended without finishing (None): the status the SDKs raise and retry by, with
    ``Retry-After`` when the pipeline knows when to ask again."""
    if e is None:
        return openai_error(502, "the answer ended without finishing", type="server_error",
                            headers=headers)
    body = failure_body(e)
    out = dict(headers or {})
    if e.retry_after is not None:
        out["Retry-After"] = str(max(1, math.ceil(e.retry_after)))
    return openai_error(status_of(e), body.message, type=body.type, param=body.param,
                        code=body.code, headers=out)


def openai_error(status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    body = OpenAIError(error=error_body(message, type=type, param=param, code=code))
    return JSONResponse(body.model_dump(), status, headers=headers)


def restart_failure(e: Restarted) -> Failed:
    """A restart after output was sent, which OpenAI's protocols cannot take back: the
    answer ends in this error rather than a mix of two attempts."""
    return Failed(e.id, "restarted", "the answer was restarted on another model after it "
                  "had begun; send the request again")
