"""#26 rows 4, 7, 10, 11 and 12: every limit is checked and taken in one step, and every
route that creates or spends is metered. Each attack is a burst of parallel requests
against a real AUTH=jwt `chatstream up`: the limit holds exactly, and what a refused
request would have cost (a hash, a publish, an answer, a count) is never spent."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.security.support import PASSWORD, Edge


async def _inside_one_minute(needed_s: float = 20) -> None:
    """Per-minute windows are calendar minutes: start a burst well inside one."""
    if time.time() % 60 > 60 - needed_s:
        await asyncio.sleep(61 - time.time() % 60)


async def _usage(c: httpx.AsyncClient) -> dict[str, int]:
    used: dict[str, int] = (await c.get("/v1/usage")).json()["used"]
    return used


# -- row 4: login failures ----------------------------------------------------------


async def test_parallel_wrong_passwords_reach_the_hash_at_most_the_limit(
        jwt_edge: Edge) -> None:
    """30 wrong passwords for one email at once, each from an address of its own, against
    LOGIN_FAILURES_PER_EMAIL=5: at most 5 are hashed (401), the rest 429 at once."""
    victim = f"victim-{uuid.uuid4().hex[:6]}@acme.io"
    await jwt_edge.member(victim)

    async def guess(i: int) -> httpx.Response:
        async with jwt_edge.client() as c:  # a fresh address each
            return await c.post("/v1/auth/token",
                                json={"email": victim, "password": f"guess-{i}"})

    answers = await asyncio.gather(*(guess(i) for i in range(30)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(429) >= 25, statuses
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 900
    # And the right password waits too: the guesser learns nothing from it.
    async with jwt_edge.client() as c:
        r = await c.post("/v1/auth/token", json={"email": victim, "password": PASSWORD})
        assert r.status_code == 429
        assert "access_token" not in r.text


# -- row 10: the batch cap -----------------------------------------------------------


async def test_parallel_batches_stop_exactly_at_the_cap(jwt_edge: Edge) -> None:
    """BATCH_MAX_ACTIVE_PER_TENANT=3, 8 batches submitted at once: 3 accepted."""
    owner = await jwt_edge.tenant("pro")
    async with jwt_edge.client(owner) as c:
        answers = await asyncio.gather(*(
            c.post("/v1/batches", json={"prompts": [f"Write a long story, part {i}."] * 50})
            for i in range(8)))
        statuses = [r.status_code for r in answers]
        assert statuses.count(202) == 3, statuses
        assert statuses.count(429) == 5, statuses
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.json()["error"]["code"] == "too_many_batches"
        assert refused.headers["retry-after"]
        # Only the accepted batches' prompts count against the month.
        assert (await _usage(c)).get("messages") == 3 * 50
        for r in answers:
            if r.status_code == 202:
                await c.post(f"/v1/batches/{r.json()['id']}/cancel")


# -- row 12: every creating route metered --------------------------------------------


@pytest.mark.parametrize("route", ["/v1/conversations", "/v1/keys"])
async def test_creating_routes_are_metered_per_minute(jwt_edge: Edge, route: str) -> None:
    """The `burst` plan allows 5 requests a minute: of 8 creations at once, 5 are made."""
    owner = await jwt_edge.tenant("burst")
    await _inside_one_minute()
    async with jwt_edge.client(owner) as c:
        answers = await asyncio.gather(*(c.post(route, json={}) for _ in range(8)))
        statuses = [r.status_code for r in answers]
        assert statuses.count(201) == 5, statuses
        assert statuses.count(429) == 3, statuses
        refused = next(r for r in answers if r.status_code == 429)
        assert "requests_per_minute" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert len((await c.get(route)).json()["data"]) == 5


# -- row 7: embeddings' tokens --------------------------------------------------------


async def test_embeddings_count_their_tokens_and_stop_before_the_work(
        jwt_edge: Edge) -> None:
    """On a 400-token month, a request of ~1,000 tokens is 429 before anything is
    embedded, and counts nothing; a small one is counted."""
    owner = await jwt_edge.tenant("tokens400")
    async with jwt_edge.client(owner) as c:
        model = (await c.post("/v1/embeddings", json={"model": "unknown", "input": "x"})
                 ).json()["error"]["message"].split("`")[3]
        big = await c.post("/v1/embeddings", json={"model": model,
                                                   "input": ["word " * 40] * 20})
        assert big.status_code == 429, big.text
        assert "tokens_per_month" in big.json()["error"]["message"]
        assert big.headers["retry-after"]
        assert (await _usage(c)).get("tokens", 0) == 0
        small = await c.post("/v1/embeddings", json={"model": model, "input": "hello there"})
        assert small.status_code == 200, small.text
        spent = small.json()["usage"]["total_tokens"]
        assert (await _usage(c)).get("tokens") == spent
        again = await c.post("/v1/embeddings", json={"model": model,
                                                     "input": ["word " * 40] * 20})
        assert again.status_code == 429
        assert (await _usage(c)).get("tokens") == spent


# -- row 11: streams on every streaming route ----------------------------------------


def _stream_request(kind: str, n: int) -> tuple[str, dict[str, Any]]:
    text = f"Tell me a long story about the sea, number {n}."
    if kind == "completions":
        return "/v1/chat/completions", {"model": "extractive", "stream": True,
                                        "messages": [{"role": "user", "content": text}]}
    if kind == "responses":
        return "/v1/responses", {"model": "extractive", "stream": True, "input": text}
    return "", {"text": text}  # a conversation's message, posted with Accept: SSE


async def _streams_at_once(edge: Edge, who: str, kind: str, n: int,
                           ) -> tuple[list[int], list[bytes]]:
    """``n`` streams asked for at once; the statuses once all have answered, with the
    accepted ones still open (they are closed on return)."""
    hold = asyncio.Event()
    statuses: list[int] = []
    refusals: list[bytes] = []
    async with edge.client(who) as c:
        async def one(i: int) -> None:
            path, body = _stream_request(kind, i)
            headers = {}
            if not path:
                cid = (await c.post("/v1/conversations", json={})).json()["id"]
                path, headers = f"/v1/conversations/{cid}/messages", {
                    "Accept": "text/event-stream"}
            async with c.stream("POST", path, json=body, headers=headers) as r:
                statuses.append(r.status_code)
                if r.status_code == 200:
                    await hold.wait()
                else:
                    refusals.append(await r.aread())

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        for _ in range(600):
            if len(statuses) == n or any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.05)
        hold.set()
        await asyncio.gather(*tasks)
    return statuses, refusals


@pytest.mark.parametrize("kind", ["completions", "responses", "messages"])
async def test_streams_beyond_the_cap_are_refused_before_they_cost(slow_edge: Edge,
                                                                   kind: str) -> None:
    """MAX_STREAMS_PER_USER=2, six streams asked for at once on one route: two stream,
    four are 429 `too_many_streams`, and only the two were published and counted."""
    owner = await slow_edge.tenant("pro")
    statuses, refusals = await _streams_at_once(slow_edge, owner, kind, 6)
    assert sorted(statuses) == [200, 200, 429, 429, 429, 429], statuses
    assert all(b'"too_many_streams"' in body for body in refusals), refusals
    async with slow_edge.client(owner) as c:
        assert (await _usage(c)).get("messages") == 2
        if kind != "messages":
            # Each OpenAI request is a conversation of its own once published: two.
            await asyncio.sleep(2)
            assert len((await c.get("/v1/conversations")).json()["data"]) == 2


async def test_a_month_out_of_tokens_refuses_answers_not_the_tenants_administration(
        jwt_edge: Edge) -> None:
    """Once the answers have spent the month's tokens, the next message is 429; the
    owner still creates a key, a user and a conversation and uploads a document, none of
    which spends a token (all of them were 429 ``tokens_per_month``)."""
    owner = await jwt_edge.tenant("few_tokens")  # 1 token a month
    async with jwt_edge.client(owner) as c:
        cid = (await c.post("/v1/conversations")).json()["id"]
        async with c.stream("POST", f"/v1/conversations/{cid}/messages",
                            json={"text": "Count my tokens, please."},
                            headers={"Accept": "text/event-stream"}) as answer:
            assert answer.status_code == 200
            async for _ in answer.aiter_lines():
                pass
        deadline = time.monotonic() + 30
        while not (await _usage(c)).get("tokens"):
            assert time.monotonic() < deadline, "tokens never counted"
            await asyncio.sleep(0.2)
        more = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "more"})
        assert more.status_code == 429, more.text
        assert "tokens_per_month" in more.json()["error"]["message"]
        key = await c.post("/v1/keys", json={"name": "ci"})
        assert key.status_code == 201, key.text
        user = await c.post("/v1/admin/users", json={
            "email": f"new-{uuid.uuid4().hex[:6]}@{owner.split('@')[1]}", "password": PASSWORD})
        assert user.status_code == 201, user.text
        assert (await c.post("/v1/conversations")).status_code == 201
        doc = await c.post("/v1/documents", files={"file": ("a.txt", b"Plain words.")})
        assert doc.status_code == 202, doc.text
