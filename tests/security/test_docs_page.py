"""A finding by reading #26: ``/docs`` loaded Swagger UI's scripts from a CDN, with no
Content-Security-Policy. A script from another origin runs with the edge's: the page's
tokens, the whole API; and a laptop without network had no /docs at all.

Now every file of it comes from the edge, under a policy that allows nothing else: the
page is driven in Chromium, every request it makes is listed, and it must render the API
with no request to another origin and no policy violation."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.async_api import async_playwright

from api.openapi import DOCS_CSP
from tests.security.support import Edge
from tests.support.browser import launch


async def test_docs_load_only_from_the_edge(dev_edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        r = await c.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == DOCS_CSP
    assert "default-src 'none'" in DOCS_CSP and "http" not in DOCS_CSP
    origin = urlsplit(dev_edge.url).netloc
    requested: list[str] = []
    violations: list[str] = []
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            page = await browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda m: violations.append(m.text)
                    if "Content Security Policy" in m.text else None)
            await page.goto(f"{dev_edge.url}/docs")
            await page.wait_for_selector(".opblock", timeout=60_000)
            assert await page.locator(".opblock").count() > 20  # every operation listed
        finally:
            await browser.close()
    assert requested and all(urlsplit(u).netloc == origin for u in requested), requested
    assert violations == []
