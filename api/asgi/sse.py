"""An SSE response written straight to ASGI: the frames as they come (each wake-up's
frames are one write: :func:`api.relay.render.frames` joins them), and the client's
leaving noticed at once, not at the next write, so an answer it asked for is cancelled
while it is still being generated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from api.asgi.call import Call
from api.disconnect import Leave
from api.relay.render import SSE_HEADERS

__all__ = ("send_sse",)


async def send_sse(call: Call, body: AsyncIterator[bytes],
                   headers: Sequence[tuple[bytes, bytes]] = (),
                   leave: Leave | None = None) -> None:
    """``body`` as a 200 ``text/event-stream`` response; ``leave`` if it ends before its
    end (the client went away, or stopped reading and was dropped by the boundary)."""
    send = call.send
    call.started = True
    await send({"type": "http.response.start", "status": 200,
                "headers": [*SSE_HEADERS, *headers]})
    writer = asyncio.current_task()
    assert writer is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await call.receive())["type"] != "http.disconnect":
            pass
        gone = True
        writer.cancel()

    # One task a stream (not one a frame) listens for the client's leaving.
    watcher = asyncio.get_running_loop().create_task(watch())
    ended = False
    try:
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        ended = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not gone:
            raise
        writer.uncancel()  # the client left: this request ends here, quietly
    finally:
        watcher.cancel()  # not awaited: a cancellation of this task must not be absorbed
        close = getattr(body, "aclose", None)
        if close is not None:
            await close()
        if not ended and leave is not None:
            await leave()
