"""Errors in OpenAI's shape: a JSON response before an answer starts, an error event or
object once it has (:class:`api.relay.events.Failed` carries what it needs)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from api.relay.events import Failed, Restarted
from schemas.completions import OpenAIError, OpenAIErrorBody

__all__ = ("answer_error", "error_body", "failure_body", "openai_error",
           "restart_failure")

# Error codes of the pipeline as HTTP statuses, when the error event does not say.
_STATUS = {"unknown_model": 404, "provider_unavailable": 503, "provider_error": 502}


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> OpenAIErrorBody:
    return OpenAIErrorBody(message=message, type=type, param=param, code=code)


def failure_body(e: Failed) -> OpenAIErrorBody:
    """A failed answer's error as OpenAI describes one."""
    return error_body(e.message, type=e.error_type or "server_error", code=e.code)


def answer_error(e: Failed | None, headers: dict[str, str] | None = None) -> JSONResponse:
    """The response to a request answered whole whose answer failed (``e``), or ended
    without finishing (None)."""
    if e is None:
        return openai_error(502, "the answer ended without finishing", type="server_error",
                            headers=headers)
    body = failure_body(e)
    return openai_error(e.status or _STATUS.get(e.code, 502), body.message, type=body.type,
                        code=body.code, headers=headers)


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
