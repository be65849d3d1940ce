"""An SSE stream as a route's response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.responses import StreamingResponse

from api.relay.render import SSE_HEADERS

__all__ = ("sse_response",)

_HEADERS = {k.decode(): v.decode() for k, v in SSE_HEADERS}


def sse_response(body: AsyncIterator[bytes],
                 headers: Mapping[str, str] | None = None) -> StreamingResponse:
    """``body`` (from :func:`api.relay.render.frames`) sent as it comes, with the SSE
    headers and ``headers``."""
    return StreamingResponse(body, headers={**_HEADERS, **(headers or {})})
