"""The small language model through the whole pipeline, on every stack: it writes its own
answer (not a template of the extractive model), token by token, and Stop stops it."""

from __future__ import annotations

import re

import httpx
import pytest

from harness.sse_client import Event, events
from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.support.stacks import Stack

pytest.importorskip("llama_cpp", reason="the language model comes with `make llm`")

# Every answer of the extractive model is one of these shapes (agents/providers/extractive.py).
EXTRACTIVE = re.compile(r"^(Noted: |Earlier you said: |According to \[|I can't answer that "
                        r"from your documents)")


async def test_it_answers_in_words_of_its_own_streaming_many_tokens(
        client: httpx.AsyncClient, stack: Stack) -> None:
    cid = await new_conversation(client)
    answer = await ask(client, cid, "What is the capital of France?", model="smollm2",
                       options={"max_tokens": 48, "temperature": 0})
    assert answer.last.event == "done", stack.logs()
    [status] = [e for e in answer.events if e.event == "status"
                and e.json().get("state") == "generating"]
    assert status.json()["model"] == "smollm2"
    assert len([e for e in answer.events if e.event == "token"]) > 1
    assert "Paris" in answer.text
    assert not EXTRACTIVE.match(answer.text)
    stored = await wait_for_messages(client, cid, 2)
    assert stored[1]["model"] == "smollm2" and stored[1]["text"] == answer.text


async def test_stop_ends_its_answer(client: httpx.AsyncClient, stack: Stack) -> None:
    cid = await new_conversation(client)
    r = await client.post(f"/v1/conversations/{cid}/messages", json={
        "text": "Write a very long story about a lighthouse keeper.", "model": "smollm2",
        "options": {"max_tokens": 1500}})
    assert r.status_code == 202, r.text
    rid = r.json()["request_id"]
    got: list[Event] = []
    async with client.stream("GET", f"/v1/requests/{rid}/events", timeout=120) as response:
        async for e in events(response):
            got.append(e)
            if e.event == "token" and len([g for g in got if g.event == "token"]) == 2:
                cancel = await client.post(f"/v1/requests/{rid}/cancel")
                assert cancel.status_code == 202, cancel.text
            if e.event in ("done", "error"):
                break
    assert got[-1].event == "done", stack.logs()
    assert got[-1].json()["finish_reason"] == "cancelled"
    streamed = "".join(e.json()["text"] for e in got if e.event == "token")
    stored = await wait_for_messages(client, cid, 2)
    assert stored[1]["finish_reason"] == "cancelled" and stored[1]["text"] == streamed
    # Far fewer than the 1500 tokens it was allowed: generation stopped at the cancel.
    assert stored[1]["usage"]["completion_tokens"] < 500
