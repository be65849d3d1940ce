"""Web search for retrieval: a pluggable provider whose results are cited like passages.

Off unless ``WEB_SEARCH`` names a provider: SearXNG's JSON API (``searxng://host:port``,
self-hosted, no key) or the Brave Search API (``brave://host``, a subscription token).
A search that fails or is slow is dropped, never the answer: the model answers without it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx

from kernel.errors import ConfigurationError
from schemas.events import HistoryTurn, Passage

__all__ = ("BraveSearch", "SearxngSearch", "WebResult", "WebSearch", "build_web_search",
           "passages_of", "web_query")

log = logging.getLogger(__name__)

_MAX_QUERY_CHARS = 256
_MAX_SNIPPET_CHARS = 600
_MAX_RESPONSE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WebResult:
    title: str
    url: str
    snippet: str


class WebSearch(Protocol):
    name: str

    async def search(self, query: str, limit: int) -> list[WebResult]: ...

    async def aclose(self) -> None: ...


def web_query(text: str, history: tuple[HistoryTurn, ...]) -> str:
    """The query, written from the conversation: the message, and for a short follow-up
    ("and in winter?") the user's turn before it, which says what it is about."""
    query = " ".join(text.split())
    if len(query.split()) < 6:
        earlier = next((t.text for t in reversed(history) if t.role == "user"), "")
        query = " ".join(f"{earlier} {query}".split())
    return query[-_MAX_QUERY_CHARS:]


def passages_of(results: list[WebResult]) -> list[Passage]:
    return [Passage(document_id=f"web:{r.url}", title=r.title or r.url, chunk=i,
                    text=r.snippet, url=r.url)
            for i, r in enumerate(results)]


def _clean(value: Any, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def _web_url(value: Any) -> str | None:
    url = str(value or "")
    return url if urlparse(url).scheme in ("http", "https") else None


class _HttpSearch:
    """What both providers share: one pooled client, bounded waits and responses."""

    name = "web"

    def __init__(self, base_url: str, timeout_s: float,
                 headers: dict[str, str] | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s,
                                         headers=headers or {}, follow_redirects=False)

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        async with self._client.stream("GET", path, params=params) as r:
            r.raise_for_status()
            body = b""
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > _MAX_RESPONSE_BYTES:
                    raise ValueError("the search response is over 2 MiB")
        return json.loads(body)

    async def aclose(self) -> None:
        await self._client.aclose()


class SearxngSearch(_HttpSearch):
    """SearXNG's ``/search?format=json`` (the instance must allow the json format)."""

    name = "searxng"

    async def search(self, query: str, limit: int) -> list[WebResult]:
        data = await self._get("/search", {"q": query, "format": "json"})
        out = []
        for item in data.get("results", []) if isinstance(data, dict) else []:
            url = _web_url(item.get("url")) if isinstance(item, dict) else None
            if url is None:
                continue
            out.append(WebResult(_clean(item.get("title"), 200), url,
                                 _clean(item.get("content"), _MAX_SNIPPET_CHARS)))
            if len(out) == limit:
                break
        return out


class BraveSearch(_HttpSearch):
    """The Brave Search API's ``/res/v1/web/search``."""

    name = "brave"

    async def search(self, query: str, limit: int) -> list[WebResult]:
        data = await self._get("/res/v1/web/search", {"q": query, "count": str(limit)})
        items = data.get("web", {}).get("results", []) if isinstance(data, dict) else []
        out = []
        for item in items:
            url = _web_url(item.get("url")) if isinstance(item, dict) else None
            if url is not None:
                out.append(WebResult(_clean(item.get("title"), 200), url,
                                     _clean(item.get("description"), _MAX_SNIPPET_CHARS)))
        return out[:limit]


def build_web_search(url: str, api_key: str | None, timeout_s: float) -> WebSearch | None:
    """The provider ``WEB_SEARCH`` names, or None when it is empty."""
    if not url:
        return None
    parsed = urlparse(url)
    scheme, _, transport = parsed.scheme.partition("+")
    if transport not in ("", "http", "https") or not parsed.netloc:
        raise ConfigurationError("WEB_SEARCH must look like searxng://host:port or "
                                 "brave://host (add +https or +http to choose)")
    if scheme == "searxng":
        base = f"{transport or 'http'}://{parsed.netloc}{parsed.path.rstrip('/')}"
        return SearxngSearch(base, timeout_s)
    if scheme == "brave":
        if not api_key:
            raise ConfigurationError("Brave search needs WEB_SEARCH_API_KEY")
        base = f"{transport or 'https'}://{parsed.netloc}{parsed.path.rstrip('/')}"
        return BraveSearch(base, timeout_s, {"X-Subscription-Token": api_key,
                                             "Accept": "application/json"})
    raise ConfigurationError(f"WEB_SEARCH: unknown provider {scheme!r}; searxng or brave")
