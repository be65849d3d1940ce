"""The SSE stream of one answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from api.deps import PrincipalDep, ServicesDep
from api.errors import ApiError
from api.relay.native import NativeSse, last_event_id, open_stream
from api.relay.render import frames
from api.relay.response import sse_response
from api.submit import cancel as cancel_answer
from schemas.http import CancelAccepted

__all__ = ("router",)

router = APIRouter(prefix="/v1/requests", tags=["streams"])


@router.get("/{rid}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def events(
    rid: str, services: ServicesDep, principal: PrincipalDep,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id_param: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> StreamingResponse:
    """``Last-Event-ID`` (or ``?last_event_id=`` for clients that cannot set headers)
    resumes after that event, with no gap and no repeat."""
    after = last_event_id(last_event_id_header, last_event_id_param)
    stream = await open_stream(services, principal, rid, after)
    return sse_response(frames(stream, NativeSse(), after))


@router.post("/{rid}/cancel", status_code=202, response_model=CancelAccepted)
async def cancel(rid: str, services: ServicesDep, principal: PrincipalDep) -> CancelAccepted:
    """Stop generating an answer: the inference worker generating it closes the upstream
    request and ends the stream with ``done`` and finish reason ``cancelled``. Leaving
    this stream does not cancel the answer (it can be read again from any edge)."""
    stream = await open_stream(services, principal, rid)  # 404 unless the caller's
    if stream.finished:
        raise ApiError(409, "already_finished", f"request {rid} has already finished")
    await cancel_answer(services, principal, rid, stream.conversation_id or "")
    return CancelAccepted(request_id=rid)
