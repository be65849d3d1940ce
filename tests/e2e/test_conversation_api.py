"""The conversation API a chat page needs, on every stack: rename and settings (system
prompt, model, temperature) kept per conversation, titles written by the model, search of
titles and messages, branches (an edited question, a regenerated answer) whose history
follows the branch, export, timings, and every input bounded and scoped."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harness.fake_models import FakeModelServer, Reply
from harness.sse_client import collect
from tests.e2e.chat import Answer, ask, wait_for_messages
from tests.support.stacks import Stack


@pytest.fixture
async def me(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A tenant of this test's own (dev mode): what it finds is only what it made."""
    headers = {"X-Dev-Tenant": f"conv-{uuid.uuid4().hex[:8]}"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30, headers=headers) as c:
        yield c


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/conversations", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def post(client: httpx.AsyncClient, cid: str, text: str, **body: Any) -> Answer:
    r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": text, **body})
    assert r.status_code == 202, r.text
    accepted = r.json()
    return Answer(accepted["request_id"], await collect(client, accepted["events_url"]))


async def eventually(fetch: Any, check: Any, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fetch()
        if check(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_a_conversation_is_renamed_and_keeps_its_settings(
        me: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    made = await create(me, settings={"system_prompt": "Answer like a ship's captain.",
                                      "model": "fake", "temperature": 0.3})
    cid = made["id"]
    assert made["title"] == "New conversation"
    assert made["settings"] == {"system_prompt": "Answer like a ship's captain.",
                                "model": "fake", "temperature": 0.3}
    marker = f"harbour-{uuid.uuid4().hex[:6]}"
    # The answer, then its title (the title's prompt quotes the question, marker and all).
    fake_model.plan(Reply.stream("Aye."), Reply.stream("Ferry departures"), marker=marker)
    answer = await ask(me, cid, f"When does the {marker} ferry leave?")
    assert answer.last.event == "done" and answer.text == "Aye."
    [seen] = [r for r in fake_model.requests if marker in json.dumps(r.messages)][:1]
    assert seen.body["temperature"] == 0.3
    assert seen.messages[0] == {"role": "system", "content": "Answer like a ship's captain."}

    r = await me.patch(f"/v1/conversations/{cid}", json={
        "title": "  Ferry times  ", "settings": {"model": "local"}})
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["settings"]) == (
        "Ferry times", {"system_prompt": None, "model": "local", "temperature": None})
    got = (await me.get(f"/v1/conversations/{cid}")).json()
    assert got["title"] == "Ferry times" and got["settings"]["model"] == "local"
    listed = (await me.get("/v1/conversations")).json()["data"]
    assert [c["title"] for c in listed if c["id"] == cid] == ["Ferry times"]
    assert listed[0]["settings"] is None  # lists leave settings out
    after = await ask(me, cid, "My cat is called Miso.")
    assert after.text == "Noted: your cat is called Miso."  # now the offline model's

    for bad, code in (({"title": "   "}, "empty_title"),
                      ({"settings": {"model": "no-such-model"}}, "unknown_model")):
        r = await me.patch(f"/v1/conversations/{cid}", json=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    for bad in ({"title": "x" * 201}, {"settings": {"system_prompt": "x" * 4001}},
                {"settings": {"temperature": 3}}, {"colour": "teal"}):
        assert (await me.patch(f"/v1/conversations/{cid}", json=bad)).status_code == 422


async def test_another_tenants_conversation_cannot_be_read_renamed_or_exported(
        me: httpx.AsyncClient, stack: Stack) -> None:
    cid = (await create(me, title="Mine"))["id"]
    async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                 headers={"X-Dev-Tenant": "someone-else"}) as other:
        for method, path in (("GET", ""), ("PATCH", ""), ("GET", "/export"),
                             ("POST", "/messages/x/regenerate")):
            r = await other.request(method, f"/v1/conversations/{cid}{path}",
                                    json={"title": "Theirs"} if method == "PATCH" else None)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["error"]["code"] == "not_found"
    assert (await me.get(f"/v1/conversations/{cid}")).json()["title"] == "Mine"


async def test_the_model_titles_a_new_conversation_after_its_first_answer(
        me: httpx.AsyncClient) -> None:
    cid = (await create(me))["id"]
    await ask(me, cid, "Who is the keeper of the **Quorvane** lighthouse?")

    async def title() -> str:
        return str((await me.get(f"/v1/conversations/{cid}")).json()["title"])

    assert await eventually(title, lambda t: t != "New conversation") == \
        "Keeper of the Quorvane lighthouse"
    named = (await create(me, title="My own"))["id"]
    await ask(me, named, "Who is the keeper of the lighthouse?")
    await wait_for_messages(me, named, 2)
    assert (await me.get(f"/v1/conversations/{named}")).json()["title"] == "My own"


async def test_search_finds_titles_and_message_text_of_the_caller_only(
        me: httpx.AsyncClient, stack: Stack) -> None:
    word = f"Zanzibarte{uuid.uuid4().hex[:4]}"
    titled = (await create(me, title=f"Trip to {word}"))["id"]
    texted = (await create(me, title="Packing"))["id"]
    await ask(me, texted, f"Remember that the {word.upper()} ferry needs a booking.")
    await wait_for_messages(me, texted, 2)
    r = await me.get("/v1/conversations/search", params={"q": word.lower()})
    assert r.status_code == 200, r.text
    found = r.json()
    assert [h["conversation_id"] for h in found["data"]] == [texted, titled]
    assert found["data"][1]["message_id"] is None
    assert word.upper() in found["data"][0]["snippet"]
    assert found["complete"] is True and found["searched"] == 2
    async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                 headers={"X-Dev-Tenant": "someone-else"}) as other:
        theirs = await other.get("/v1/conversations/search", params={"q": word})
        assert theirs.json()["data"] == []
    for params in ({"q": ""}, {"q": "x" * 201}, {"q": "ferry", "limit": 51}, {}):
        r = await me.get("/v1/conversations/search", params=params)
        assert r.status_code == 422, (params, r.text)
        assert "error" in r.json()


async def test_an_edit_and_a_regeneration_are_branches_the_history_follows(
        me: httpx.AsyncClient) -> None:
    cid = (await create(me))["id"]
    await ask(me, cid, "My cat is called Miso.")
    first = await ask(me, cid, "What is my cat called?")
    assert "Miso" in first.text
    stored = await wait_for_messages(me, cid, 4)
    [q1, a1, q2, a2] = stored
    assert [m["parent_id"] for m in stored] == [None, q1["id"], a1["id"], q2["id"]]

    # Edit the first question: a sibling of it, with a history of its own.
    edited = await post(me, cid, "My cat is called Tibbles.", replaces=q1["id"])
    assert edited.last.event == "done"
    messages = await wait_for_messages(me, cid, 6)
    q1b = next(m for m in messages if m["text"] == "My cat is called Tibbles.")
    a1b = next(m for m in messages if m["parent_id"] == q1b["id"])
    assert q1b["parent_id"] is None  # the first question's place
    on_edit = await post(me, cid, "What is my cat called?", parent_id=a1b["id"])
    assert "Tibbles" in on_edit.text and "Miso" not in on_edit.text
    # Back on the first branch, its history is its own.
    on_first = await post(me, cid, "What is my cat called?", parent_id=a2["id"])
    assert "Miso" in on_first.text and "Tibbles" not in on_first.text

    # Regenerate the answer to q2: a sibling of a2, answering the same question.
    r = await me.post(f"/v1/conversations/{cid}/messages/{q2['id']}/regenerate")
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["message_id"] == q2["id"]
    events = await collect(me, again["events_url"])
    assert events[-1].event == "done"
    assert "Miso" in "".join(e.json()["text"] for e in events if e.event == "token")
    messages = await wait_for_messages(me, cid, 11)
    answers_to_q2 = [m for m in messages if m["parent_id"] == q2["id"]]
    assert len(answers_to_q2) == 2  # both versions, and no second copy of the question
    assert sum(m["text"] == "What is my cat called?" and m["parent_id"] == a1["id"]
               for m in messages) == 1
    # Regenerating from the answer names its question; an answer is not edited.
    r = await me.post(f"/v1/conversations/{cid}/messages/{a2['id']}/regenerate")
    assert r.status_code == 202 and r.json()["message_id"] == q2["id"]
    r = await me.post(f"/v1/conversations/{cid}/messages", json={
        "text": "x", "replaces": a2["id"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_question"
    for body in ({"text": "x", "replaces": "nope"}, {"text": "x", "parent_id": "nope"}):
        r = await me.post(f"/v1/conversations/{cid}/messages", json=body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "message_not_found"
    r = await me.post(f"/v1/conversations/{cid}/messages", json={
        "text": "x", "replaces": q1["id"], "parent_id": a1["id"]})
    assert r.status_code == 422


async def test_a_branch_is_exported_as_markdown_and_json(me: httpx.AsyncClient) -> None:
    cid = (await create(me, title="Ferry / notes: <draft>"))["id"]
    await ask(me, cid, "The ferry leaves at seven.")
    await ask(me, cid, "It returns at six.")
    stored = await wait_for_messages(me, cid, 4)
    r = await me.get(f"/v1/conversations/{cid}/export", params={"format": "markdown"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/markdown")
    assert r.headers["content-disposition"] == \
        'attachment; filename="ferry-notes-draft.md"'
    assert r.text.startswith("# Ferry / notes: <draft>\n")
    assert r.text.index("The ferry leaves at seven.") < r.text.index("It returns at six.")
    assert "## You · " in r.text and "## Assistant (local) · " in r.text

    r = await me.get(f"/v1/conversations/{cid}/export",
                     params={"format": "json", "tip": stored[1]["id"]})
    data = r.json()
    assert data["conversation"]["id"] == cid
    assert [m["id"] for m in data["messages"]] == [stored[0]["id"], stored[1]["id"]]
    assert data["messages"][1]["timings"]["duration_ms"] > 0
    assert (await me.get(f"/v1/conversations/{cid}/export",
                         params={"format": "pdf"})).status_code == 422
    assert (await me.get(f"/v1/conversations/{cid}/export",
                         params={"tip": "nope"})).status_code == 404


async def test_answers_keep_their_timings_and_models_say_whether_they_can_answer(
        me: httpx.AsyncClient) -> None:
    cid = (await create(me))["id"]
    await ask(me, cid, "The ferry leaves at seven.")
    answer = (await wait_for_messages(me, cid, 2))[1]
    timings = answer["timings"]
    assert 0 < timings["ttft_ms"] <= timings["duration_ms"]
    models = {m["id"]: m for m in (await me.get("/v1/models")).json()["data"]}
    assert models["local"]["available"] is True
    assert models["fake"]["available"] is True  # its endpoint is configured
    mine = (await me.get("/v1/me")).json()
    assert mine["max_message_chars"] == 16_000
