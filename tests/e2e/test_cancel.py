"""Cancelling an answer, end to end: the edge publishes on chat.control.v1, the inference
worker generating the answer stops and closes its upstream stream. A client that leaves
the stream it asked for cancels it too, unless it said it comes back for the answer."""

from __future__ import annotations

import uuid

import httpx

from harness.fake_models import FakeModelServer, Reply, SeenRequest
from harness.sse_client import Event, collect, events
from tests.e2e.chat import new_conversation, wait_for_messages
from tests.support.stacks import Stack
from tests.support.wait import until


def _asked(fake: FakeModelServer, text: str) -> SeenRequest | None:
    for r in fake.requests:
        if r.messages and r.messages[-1].get("content") == text:
            return r
    return None


async def test_cancel_stops_the_answer_and_closes_the_upstream_stream(
        client: httpx.AsyncClient, stack: Stack, fake_model: FakeModelServer) -> None:
    text = f"Tell me a very long story ({stack.name}, {uuid.uuid4().hex[:8]})."
    # Half a minute if nobody stops it.
    fake_model.plan(Reply(tokens=3000, pace_s=0.01), marker=text)
    cid = await new_conversation(client)
    r = await client.post(f"/v1/conversations/{cid}/messages",
                          json={"text": text, "model": "fake"})
    assert r.status_code == 202, r.text
    rid = r.json()["request_id"]

    got: list[Event] = []
    async with client.stream("GET", f"/v1/requests/{rid}/events", timeout=60) as response:
        async for e in events(response):
            got.append(e)
            if e.event == "token" and len([g for g in got if g.event == "token"]) == 1:
                cancel = await client.post(f"/v1/requests/{rid}/cancel")
                assert cancel.status_code == 202, cancel.text
                assert cancel.json() == {"request_id": rid, "status": "cancelling"}
            if e.event in ("done", "error"):
                break
    assert got[-1].event == "done", stack.logs()
    assert got[-1].json()["finish_reason"] == "cancelled"
    streamed = "".join(e.json()["text"] for e in got if e.event == "token")
    assert streamed.startswith("tok0 ")

    await until(lambda: (seen := _asked(fake_model, text)) is not None
                and seen.outcome == "disconnected", 30)
    seen = _asked(fake_model, text)
    assert seen is not None and seen.chunks_sent < 3000

    stored = await wait_for_messages(client, cid, 2)
    assert stored[1]["finish_reason"] == "cancelled"
    assert stored[1]["text"] == streamed

    again = await client.post(f"/v1/requests/{rid}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_finished"


async def test_a_client_that_leaves_its_stream_cancels_the_answer(
        client: httpx.AsyncClient, stack: Stack, fake_model: FakeModelServer) -> None:
    text = f"Count to three thousand ({stack.name}, {uuid.uuid4().hex[:8]})."
    fake_model.plan(Reply(tokens=3000, pace_s=0.01), marker=text)
    cid = await new_conversation(client)
    async with client.stream("POST", f"/v1/conversations/{cid}/messages",
                             json={"text": text, "model": "fake"},
                             headers={"Accept": "text/event-stream"}) as response:
        async for e in events(response):
            if e.event == "token":
                break  # and hang up
    await until(lambda: (seen := _asked(fake_model, text)) is not None
                and seen.outcome == "disconnected", 30)
    stored = await wait_for_messages(client, cid, 2, timeout=60)
    assert stored[1]["finish_reason"] == "cancelled", stack.logs()


async def test_a_client_that_comes_back_says_so_and_resumes_the_answer(
        client: httpx.AsyncClient, stack: Stack, fake_model: FakeModelServer) -> None:
    text = f"Count to forty ({stack.name}, {uuid.uuid4().hex[:8]})."
    fake_model.plan(Reply(tokens=40, pace_s=0.02), marker=text)
    cid = await new_conversation(client)
    async with client.stream("POST", f"/v1/conversations/{cid}/messages",
                             json={"text": text, "model": "fake"},
                             headers={"Accept": "text/event-stream",
                                      "X-Chatstream-On-Disconnect": "continue"}) as response:
        rid = response.headers["x-request-id"]
        async for e in events(response):
            if e.event == "token":
                last = e.id
                break  # and hang up
    # It comes back where it left off and reads the answer to its end.
    rest = await collect(client, f"/v1/requests/{rid}/events",
                         headers={"Last-Event-ID": str(last)})
    assert rest[-1].event == "done" and rest[-1].json()["finish_reason"] == "stop"
    stored = await wait_for_messages(client, cid, 2, timeout=60)
    assert stored[1]["text"] == " ".join(f"tok{i}" for i in range(40)), stack.logs()
    seen = _asked(fake_model, text)
    assert seen is not None and seen.outcome == "completed"


async def test_cancelling_an_unknown_request_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/requests/00000000-0000-0000-0000-000000000000/cancel")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
