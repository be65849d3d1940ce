"""The SSE stream of one answer, and stopping it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from api.asgi.call import Call
from api.asgi.route import HotRoute, documented
from api.asgi.sse import send_sse
from api.deps import PrincipalDep, ServicesDep
from api.errors import ApiError
from api.relay.native import NativeSse, last_event_id, open_stream
from api.relay.render import frames
from api.submit import cancel as cancel_answer
from schemas.http import CancelAccepted

__all__ = ("EVENTS", "router")

router = APIRouter(prefix="/v1/requests", tags=["streams"])


async def events(call: Call) -> None:
    principal = await call.principal()
    after = last_event_id(call.header(b"last-event-id"), call.query("last_event_id"))
    stream = await open_stream(call.services, principal, call.params["rid"], after)
    await send_sse(call, frames(stream, NativeSse(), after))


EVENTS = HotRoute("GET", "/v1/requests/{rid}/events", events)


@documented(router, EVENTS, response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
def _events(
    rid: str, principal: PrincipalDep,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id_param: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> None:
    """``Last-Event-ID`` (or ``?last_event_id=`` for clients that cannot set headers)
    resumes after that event, with no gap and no repeat."""


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
