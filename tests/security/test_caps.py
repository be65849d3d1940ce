"""#17.14 resource caps: streams per user, requests per edge, slow readers, and what
/readyz tells an anonymous caller."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from api.guards.boundary import Boundary, BoundaryMiddleware
from api.guards.slots import USER_KEY, StreamSlots
from tests.security.support import METRICS_TOKEN, Edge, start_dev_edge


@pytest.fixture(scope="module")
def capped_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    # Slow answers (a second a word), so streams stay open while the test holds them.
    edge = start_dev_edge(tmp_path_factory.mktemp("capped"),
                          CHATSTREAM_MAX_STREAMS_PER_USER="2",
                          CHATSTREAM_MAX_CONCURRENT_REQUESTS="4",
                          CHATSTREAM_LOCAL_MODEL_DELAY_MS="1000")
    yield edge
    edge.stop()


@contextlib.asynccontextmanager
async def _streams(edge: Edge, tenant: str, n: int) -> AsyncIterator[list[httpx.Response]]:
    """``n`` answer streams of tenant ``tenant``'s dev user, held open."""
    async with contextlib.AsyncExitStack() as stack:
        c = await stack.enter_async_context(httpx.AsyncClient(
            base_url=edge.url, timeout=60, headers={"X-Dev-Tenant": tenant}))
        opened = []
        for _ in range(n):
            cid = (await c.post("/v1/conversations", json={})).json()["id"]
            rid = (await c.post(f"/v1/conversations/{cid}/messages",
                                json={"text": "Tell me a long story about the sea."})
                   ).json()["request_id"]
            r = await stack.enter_async_context(c.stream("GET", f"/v1/requests/{rid}/events"))
            assert r.status_code == 200
            opened.append(r)
        yield opened


async def _post_and_stream(edge: Edge, tenant: str) -> tuple[int, httpx.Headers, bytes]:
    async with httpx.AsyncClient(base_url=edge.url, timeout=60,
                                 headers={"X-Dev-Tenant": tenant}) as c:
        cid = (await c.post("/v1/conversations", json={})).json()["id"]
        rid = (await c.post(f"/v1/conversations/{cid}/messages", json={"text": "hi"})
               ).json()["request_id"]
        async with c.stream("GET", f"/v1/requests/{rid}/events") as r:
            body = b"" if r.status_code == 200 else await r.aread()
            return r.status_code, r.headers, body


async def test_one_user_cannot_hold_every_stream(capped_edge: Edge) -> None:
    async with _streams(capped_edge, "hoarder", 2):
        status, headers, body = await _post_and_stream(capped_edge, "hoarder")
        assert status == 429
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "too_many_streams"
        assert headers["retry-after"]
        # Streaming at POST time is refused before the message is published.
        async with httpx.AsyncClient(base_url=capped_edge.url, timeout=60,
                                     headers={"X-Dev-Tenant": "hoarder"}) as c:
            cid = (await c.post("/v1/conversations", json={})).json()["id"]
            r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "more"},
                             headers={"Accept": "text/event-stream"})
            assert r.status_code == 429
            assert (await c.get(f"/v1/conversations/{cid}/messages")).json()["data"] == []
    # Closed streams give their slots back.
    for _ in range(100):
        async with httpx.AsyncClient(base_url=capped_edge.url, timeout=60,
                                     headers={"X-Dev-Tenant": "hoarder"}) as c:
            cid = (await c.post("/v1/conversations", json={})).json()["id"]
            r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "again"},
                             headers={"Accept": "text/event-stream"})
            if r.status_code != 429:
                break
        await asyncio.sleep(0.1)
    assert r.status_code == 200


async def test_an_edge_at_its_request_limit_answers_503_but_probes(capped_edge: Edge) -> None:
    async with _streams(capped_edge, "a", 2), _streams(capped_edge, "b", 2), \
            httpx.AsyncClient(base_url=capped_edge.url, timeout=60) as c:
        r = await c.get("/v1/conversations")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "busy"
        assert r.headers["retry-after"]
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 200


async def test_readyz_names_no_backend_to_anonymous_callers(jwt_edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=jwt_edge.url, timeout=30) as c:
        anonymous = await c.get("/readyz")
        assert anonymous.status_code == 200
        checks = anonymous.json()["checks"]
        assert checks["store"] == {"ok": True}
        assert all(set(v) == {"ok"} for v in checks.values()), checks
        assert "sqlite" not in anonymous.text and "/" not in anonymous.text
        operator = await c.get("/readyz", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert operator.json()["checks"]["store"]["detail"]


async def test_a_reader_that_stops_reading_is_dropped() -> None:
    """Through the ASGI interface: a send that never completes (the client's window is
    full) ends the stream after SSE_SEND_TIMEOUT_S, closes the app's generator and gives
    the user's slot back."""
    closed = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"event: token\ndata: {}\n\n"
                await asyncio.sleep(0)
        finally:
            closed.set()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope[USER_KEY] = ("acme", "slow")
        await StreamingResponse(frames(), media_type="text/event-stream")(scope, receive,
                                                                          send)

    slots = StreamSlots(1)
    edge = BoundaryMiddleware(app, Boundary(max_json_bytes=1024, max_upload_bytes=1024,
                                            send_timeout_s=0.2, slots=slots))
    sent: list[Message] = []
    stuck = asyncio.Event()

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            await stuck.wait()  # the reader never reads

    async def receive() -> Message:
        await stuck.wait()
        return {"type": "http.disconnect"}

    scope: Scope = {"type": "http", "method": "GET", "path": "/v1/requests/x/events",
                    "headers": [], "client": ("127.0.0.1", 1)}
    await asyncio.wait_for(edge(scope, receive, send), 30)
    # Nothing holds the abandoned generator: collected, it is closed (its finally runs).
    gc.collect()
    await asyncio.wait_for(closed.wait(), 30)
    assert slots.open("acme", "slow") == 0
    assert sent[0]["status"] == 200
