"""The cost of answers a user stops: a cancelled answer costs the tokens generated
before the stop, a disconnected one is generated to the end and costs all of it. Both
count against the month's tokens, so stopping early is no way around a quota."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.fake_models import FakeModelServer, Reply
from harness.sse_client import Event, events
from tests.security.support import Edge, start_jwt_edge
from tests.support.stacks import models_env


@pytest.fixture(scope="module")
def metered_edge(tmp_path_factory: pytest.TempPathFactory,
                 fake_model: FakeModelServer) -> Iterator[Edge]:
    edge = start_jwt_edge(tmp_path_factory.mktemp("metered"), **models_env(fake_model))
    yield edge
    edge.stop()


async def _tokens_used(c: httpx.AsyncClient) -> int:
    used: int = (await c.get("/v1/usage")).json()["used"].get("tokens", 0)
    return used


async def _until_used(c: httpx.AsyncClient, expected: int) -> int:
    for _ in range(600):
        used = await _tokens_used(c)
        if used >= expected:
            return used
        await asyncio.sleep(0.1)
    return await _tokens_used(c)


async def _answer(c: httpx.AsyncClient, text: str, *, cancel_after: int | None = None,
                  leave_after: int | None = None) -> list[Event]:
    cid = (await c.post("/v1/conversations", json={})).json()["id"]
    r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": text, "model": "fake"})
    assert r.status_code == 202, r.text
    rid = r.json()["request_id"]
    got: list[Event] = []
    async with c.stream("GET", f"/v1/requests/{rid}/events") as response:
        async for e in events(response):
            got.append(e)
            tokens = sum(1 for g in got if g.event == "token")
            if e.event == "token" and tokens == cancel_after:
                assert (await c.post(f"/v1/requests/{rid}/cancel")).status_code == 202
            if e.event == "token" and tokens == leave_after:
                break  # the client goes away; nobody cancels
            if e.event in ("done", "error"):
                break
    return got


def _usage(done: Event) -> int:
    data: dict[str, Any] = done.json()
    return int(data["usage"]["prompt_tokens"]) + int(data["usage"]["completion_tokens"])


async def test_a_cancelled_answer_costs_what_was_generated(
        metered_edge: Edge, fake_model: FakeModelServer) -> None:
    await metered_edge.login("owner@acme.io")
    async with metered_edge.client("owner@acme.io") as c:
        before = await _tokens_used(c)
        text = f"Tell me a very long story. [{uuid.uuid4().hex[:10]}]"
        fake_model.plan(Reply(tokens=3000, pace_s=0.01), marker=text)
        got = await _answer(c, text, cancel_after=2)
        done = got[-1]
        assert done.event == "done" and done.json()["finish_reason"] == "cancelled"
        completion = done.json()["usage"]["completion_tokens"]
        assert 1 <= completion < 3000
        used = await _until_used(c, before + _usage(done))
        assert used == before + _usage(done)


async def test_a_disconnected_answer_costs_all_of_it(
        metered_edge: Edge, fake_model: FakeModelServer) -> None:
    await metered_edge.login("owner@beta.io")
    async with metered_edge.client("owner@beta.io") as c:
        before = await _tokens_used(c)
        text = f"Tell me a story and I will leave. [{uuid.uuid4().hex[:10]}]"
        fake_model.plan(Reply(tokens=200, pace_s=0.005), marker=text)
        await _answer(c, text, leave_after=1)
        # The answer goes on without the client; its full cost lands once it is stored.
        for _ in range(600):
            cids = [x["id"] for x in (await c.get("/v1/conversations")).json()["data"]]
            stored = (await c.get(f"/v1/conversations/{cids[0]}/messages")).json()["data"]
            if len(stored) == 2:
                break
            await asyncio.sleep(0.1)
        answer = stored[1]
        assert answer["role"] == "assistant"
        assert answer["usage"]["completion_tokens"] >= 200
        cost = answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]
        assert await _until_used(c, before + cost) == before + cost
