"""The web search providers against a real HTTP server speaking SearXNG's JSON API on
loopback, the query written from the conversation, and the setting's refusals."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agents.retrieval.web import (
    SearxngSearch,
    build_web_search,
    passages_of,
    web_query,
)
from harness.fake_search import SearchServer
from kernel.errors import ConfigurationError
from schemas.events import HistoryTurn


@pytest.fixture
def server() -> Iterator[SearchServer]:
    s = SearchServer().start()
    yield s
    s.stop()


async def test_searxng_results_become_cited_passages(server: SearchServer) -> None:
    web = build_web_search(server.url, None, 2.0)
    assert isinstance(web, SearxngSearch)
    try:
        results = await web.search("Lisbon harbour ferry", 3)
    finally:
        await web.aclose()
    assert [r.url for r in results] == ["https://harbour.example/ferries",
                                        "https://tides.example/lisbon"]
    passages = passages_of(results)
    assert passages[0].document_id == "web:https://harbour.example/ferries"
    assert passages[0].url == "https://harbour.example/ferries"
    assert "Cacilhas" in passages[0].text
    assert server.queries == ["Lisbon harbour ferry"]


async def test_a_failing_search_raises_for_retrieval_to_drop(server: SearchServer) -> None:
    web = build_web_search(server.url, None, 2.0)
    assert web is not None
    server.failures.append(500)
    try:
        with pytest.raises(httpx.HTTPStatusError):
            await web.search("tides", 3)
    finally:
        await web.aclose()


def test_a_short_follow_up_is_searched_with_the_question_before_it() -> None:
    history = (HistoryTurn(role="user", text="When is high tide in Lisbon?"),
               HistoryTurn(role="assistant", text="At 14:12."))
    assert web_query("And tomorrow?", history) == "When is high tide in Lisbon? And tomorrow?"
    long = "What is the timetable of the ferries across the Tagus?"
    assert web_query(long, history) == long
    assert len(web_query("x " * 500, ())) <= 256


def test_the_setting_is_checked_when_read() -> None:
    assert build_web_search("", None, 1.0) is None
    for bad in ("google://example.com", "searxng://", "searxng+ftp://host"):
        with pytest.raises(ConfigurationError):
            build_web_search(bad, None, 1.0)
    with pytest.raises(ConfigurationError, match="WEB_SEARCH_API_KEY"):
        build_web_search("brave://api.search.brave.com", None, 1.0)
