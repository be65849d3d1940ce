"""The SSE stream of one answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from api.deps import PrincipalDep, ServicesDep
from api.sse import last_event_id, open_stream, stream_response

__all__ = ("router",)

router = APIRouter(prefix="/v1/requests", tags=["streams"])


@router.get("/{rid}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def events(
    rid: str, services: ServicesDep, principal: PrincipalDep,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id_param: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> EventSourceResponse:
    """``Last-Event-ID`` (or ``?last_event_id=`` for clients that cannot set headers)
    resumes after that event, with no gap and no repeat."""
    after = last_event_id(last_event_id_header, last_event_id_param)
    stream = await open_stream(services, principal.tenant_id, rid)
    return stream_response(stream, after)
