"""A client that goes away before its answer ended cancels it (the upstream stops
generating and billing), as OpenAI's own API does, on every route that streams or waits
for an answer it asked for. A request that means to come back for its answer (read it
again with ``GET /v1/requests/{id}/events``) says so with
``X-Chatstream-On-Disconnect: continue``. Reading an answer through
``GET /v1/requests/{id}/events`` never cancels it: that is how a client resumes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
from fastapi.responses import JSONResponse
from starlette.types import Receive

from api.deps import Principal
from api.errors import error_body
from api.relay.stream import RequestStream
from api.services import EdgeServices
from api.submit import cancel
from kernel.errors import ChatstreamError

__all__ = ("ON_DISCONNECT", "ClientGone", "Leave", "canceller", "gone_response",
           "unless_disconnected", "until_disconnected")

log = logging.getLogger(__name__)

ON_DISCONNECT = "X-Chatstream-On-Disconnect"
"""``continue``: a client leaving does not cancel its answer; ``cancel`` (the default)."""

T = TypeVar("T")


class ClientGone(ChatstreamError):
    """The client went away before the answer it waits for (its answer was cancelled)."""


def gone_response() -> JSONResponse:
    """What is sent to a client that left: nobody reads it, but the log shows the 499."""
    return JSONResponse(error_body(499, "client_closed", "the client closed the request"),
                        499)
Leave = Callable[[], Awaitable[None]]
"""What to do when the client left before the answer ended."""


def canceller(on_disconnect: str | None, services: EdgeServices, principal: Principal,
              stream: RequestStream) -> Leave | None:
    """The cancel of ``stream``'s answer for when its client leaves; None when the request
    asked for its answer to go on (``on_disconnect``: its :data:`ON_DISCONNECT` header)."""
    if (on_disconnect or "cancel").strip().lower() == "continue":
        return None

    async def leave() -> None:
        if stream.finished:
            return
        # Shielded: the task serving the client is being cancelled as this runs.
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            try:
                await cancel(services, principal, stream.request_id,
                             stream.conversation_id or "")
            except Exception as exc:  # the answer then runs to its end: logged
                log.warning("cancel of %s after a disconnect failed: %s",
                            stream.request_id, type(exc).__name__)
    return leave


async def unless_disconnected(body: AsyncIterator[T], leave: Leave | None,
                              ) -> AsyncIterator[T]:
    """``body`` as it is written; ``leave`` if the writing stops before its end (the
    client went away)."""
    ended = False
    try:
        async for part in body:
            yield part
        ended = True
    finally:
        if not ended and leave is not None:
            await leave()


async def until_disconnected(receive: Receive, work: Awaitable[T],
                             leave: Leave | None) -> T:
    """``work`` (waiting on an answer), unless the client leaves first (``receive``: the
    request's ASGI receive): then ``leave`` and :class:`ClientGone`."""
    if leave is None:
        return await work

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    doing = asyncio.ensure_future(work)
    watching = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({doing, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        if not doing.done():
            doing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await doing
    if not doing.cancelled():
        return doing.result()
    await leave()
    raise ClientGone
