"""A POST repeated with the same Idempotency-Key is one request, not two."""

from __future__ import annotations

import asyncio

import httpx

from harness.sse_client import collect
from tests.e2e.chat import new_conversation, wait_for_messages


async def test_repeated_message_post_is_answered_once(client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    body = {"text": "Please note my locker number is 318."}
    headers = {"Idempotency-Key": "msg-318"}
    replies = await asyncio.gather(*(
        client.post(f"/v1/conversations/{cid}/messages", json=body, headers=headers)
        for _ in range(3)))
    assert {r.status_code for r in replies} == {202}
    assert len({r.json()["request_id"] for r in replies}) == 1
    events = await collect(client, replies[0].json()["events_url"])
    assert events[-1].event == "done"

    later = await client.post(f"/v1/conversations/{cid}/messages", json=body, headers=headers)
    assert later.json() == replies[0].json()
    await asyncio.sleep(0.5)  # room for a duplicate to show up, were there one
    stored = await wait_for_messages(client, cid, 2)
    assert [m["role"] for m in stored] == ["user", "assistant"]


async def test_same_key_with_another_body_is_a_conflict(client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    url = f"/v1/conversations/{cid}/messages"
    first = await client.post(url, json={"text": "one"}, headers={"Idempotency-Key": "k-x"})
    assert first.status_code == 202
    other = await client.post(url, json={"text": "two"}, headers={"Idempotency-Key": "k-x"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_repeated_conversation_post_returns_the_same_conversation(
        client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "conv-once"}
    a = await client.post("/v1/conversations", json={"title": "once"}, headers=key)
    b = await client.post("/v1/conversations", json={"title": "once"}, headers=key)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    listed = (await client.get("/v1/conversations")).json()["data"]
    assert sum(c["id"] == a.json()["id"] for c in listed) == 1
