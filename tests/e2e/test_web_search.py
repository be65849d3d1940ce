"""Web search augmentation through the whole pipeline of a real ``chatstream up``, against
a real HTTP server speaking SearXNG's JSON API on loopback: results cited like passages,
the query written from the conversation, failures that cost the answer nothing, and the
plan's monthly limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from harness.fake_search import SearchServer
from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.support.stacks import Stack, start_stack
from tests.tenancy.support import JWT_ENV, bootstrap, login


@pytest.fixture(scope="module")
def search() -> Iterator[SearchServer]:
    server = SearchServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web_stack(tmp_path_factory: pytest.TempPathFactory, search: SearchServer) -> Iterator[Stack]:
    plans = '{"free": {}, "one_search": {"web_searches_per_month": 1}}'
    s = start_stack("embedded", tmp_path_factory.mktemp("web-search"),
                    {**JWT_ENV, "CHATSTREAM_PLANS": plans,
                     "CHATSTREAM_WEB_SEARCH": search.url,
                     "CHATSTREAM_WEB_SEARCH_TIMEOUT_S": "2"})
    yield s
    s.stop()


async def _signed_in(stack: Stack, plan: str) -> httpx.AsyncClient:
    """A client signed in as the owner of a new tenant on ``plan``."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    email, password = f"owner@{tenant}.example", "correct horse battery"
    bootstrap(stack.env_for_cli(), tenant, email, password, plan=plan)
    tokens = await login(stack.url, email, password)
    return httpx.AsyncClient(base_url=stack.url, timeout=60,
                             headers={"Authorization": f"Bearer {tokens['access_token']}"})


async def test_web_results_are_cited_and_the_query_comes_from_the_conversation(
        web_stack: Stack, search: SearchServer) -> None:
    async with await _signed_in(web_stack, "free") as client:
        cid = await new_conversation(client)
        first = await ask(client, cid, "When does the Lisbon harbour ferry leave Cais do Sodré?",
                          web_search=True)
        assert first.last.event == "done"
        cited = [e.json()["citations"] for e in first.events if e.event == "citations"]
        assert cited, [e.event for e in first.events]
        urls = [c["url"] for c in cited[0]]
        assert "https://harbour.example/ferries" in urls
        assert search.queries[-1] == "When does the Lisbon harbour ferry leave Cais do Sodré?"
        stored = await wait_for_messages(client, cid, 2)
        answer = next(m for m in stored if m["role"] == "assistant")
        assert any(c.get("url") == "https://harbour.example/ferries"
                   for c in answer["citations"])

        # A short follow-up is searched with the question before it.
        await ask(client, cid, "And the last one?", web_search=True)
        assert search.queries[-1].endswith("And the last one?")
        assert "harbour ferry" in search.queries[-1]

        # Without web_search, nothing is searched.
        before = len(search.queries)
        plain = await ask(client, cid, "Thanks, that is all.")
        assert plain.last.event == "done"
        assert len(search.queries) == before


async def test_a_failing_or_slow_search_costs_the_answer_nothing(
        web_stack: Stack, search: SearchServer) -> None:
    async with await _signed_in(web_stack, "free") as client:
        cid = await new_conversation(client)
        search.failures.append(502)
        failed = await ask(client, cid, "High tide in Lisbon today?", web_search=True)
        assert failed.last.event == "done"
        assert not any(e.event == "citations" for e in failed.events)
        search.delay_s = 5.0  # over WEB_SEARCH_TIMEOUT_S
        try:
            slow = await ask(client, cid, "High tide in Lisbon today, please?",
                             web_search=True)
        finally:
            search.delay_s = 0.0
        assert slow.last.event == "done"


async def test_web_searches_count_against_the_plan(web_stack: Stack) -> None:
    async with await _signed_in(web_stack, "one_search") as client:
        cid = await new_conversation(client)
        ok = await ask(client, cid, "Tides of the Tagus today?", web_search=True)
        assert ok.last.event == "done"
        r = await client.post(f"/v1/conversations/{cid}/messages",
                              json={"text": "And tomorrow?", "web_search": True})
        assert r.status_code == 429, r.text
        assert "web_searches_per_month" in r.json()["error"]["message"]
        assert int(r.headers["Retry-After"]) > 0
        # A message without web search is still fine.
        r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": "Thanks."})
        assert r.status_code == 202, r.text
        usage = (await client.get("/v1/usage")).json()
        assert usage["used"]["web_searches"] == 1
        assert usage["limits"]["web_searches_per_month"] == 1


async def test_web_search_is_refused_where_none_is_configured(
        client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    r = await client.post(f"/v1/conversations/{cid}/messages",
                          json={"text": "Anything new?", "web_search": True})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "web_search_unavailable"
