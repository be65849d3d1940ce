"""A real HTTP server on loopback speaking SearXNG's JSON search API
(``GET /search?q=...&format=json``), for web search tests: the internet is never reached.
It answers from a fixed set of pages by word overlap with the query, records each query,
and can be told to fail or stall."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from harness.jsonhttp import JsonHandler, serve, shut

__all__ = ("PAGES", "SearchServer")

PAGES = (
    {"url": "https://harbour.example/ferries", "title": "Harbour ferry timetable",
     "content": "The Lisbon harbour ferry to Cacilhas leaves every 20 minutes from Cais do "
                "Sodré; the last crossing is at 01:40."},
    {"url": "https://tides.example/lisbon", "title": "Tides of the Tagus",
     "content": "High tide in Lisbon is at 14:12 today; low tide at 20:31."},
)


@dataclass
class SearchServer:
    queries: list[str] = field(default_factory=list)
    # Status codes to answer the next searches with; a delay to stall each answer by.
    failures: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The server as chatstream's WEB_SEARCH setting names it."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"searxng://{host!s}:{port}"

    def start(self) -> SearchServer:
        owner = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                params = parse_qs(parsed.query)
                if parsed.path != "/search" or params.get("format") != ["json"]:
                    self._reply(403, {"error": "json format only"})  # SearXNG's default
                    return
                query = params.get("q", [""])[0]
                owner.queries.append(query)
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                if owner.failures:
                    self._reply(owner.failures.pop(0), {"error": "upstream engines failed"})
                    return
                words = {w.strip("?.,!").lower() for w in query.split()}
                hits = [p for p in PAGES
                        if words & {w.strip(".;,").lower() for w in p["content"].split()}]
                self._reply(200, {"query": query, "number_of_results": len(hits),
                                  "results": [{**p, "engine": "fake", "score": 1.0}
                                              for p in hits]})

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        shut(self._server)
        self._server = None
