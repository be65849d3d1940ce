"""Pages ingested by URL, on every stack: the ingestion stage fetches the page from a web
server on loopback, keeps its main text, title and fetch time, answers cite it with its
link; a re-fetch shows what changed; URLs the fetcher must never reach are refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from harness.fake_site import FakeSite, Page
from tests.e2e.chat import ask, new_conversation
from tests.e2e.test_knowledge import cited, wait_until_indexed
from tests.support.stacks import Stack

# Each test in a tenant of its own: the documents a test asserts are cited are the only
# ones there, whatever other tests uploaded (or left behind when they failed).
pytestmark = pytest.mark.own_tenant


@pytest.fixture(scope="module")
def site() -> Iterator[FakeSite]:
    s = FakeSite()
    s.start_in_thread()
    yield s
    s.stop_thread()


def article(keeper: str) -> bytes:
    nav = "".join(f"<li><a href='/p{i}'>Menu item {i} of the Brackwater site</a></li>"
                  for i in range(12))
    return f"""<!doctype html><html><head><title>Skerrow Light | Brackwater Guide</title>
<meta property="og:title" content="Skerrow Light"></head><body>
<nav><ul>{nav}</ul></nav>
<main><article><h1>Skerrow Light</h1>
<p>Skerrow Light stands on the outer reef of Brackwater bay and was first lit in 1861.</p>
<p>The keeper of Skerrow Light is {keeper}, who climbs its 112 steps every evening.</p>
<p>Visitors reach the light by the morning ferry from Brackwater harbour in summer.</p>
</article></main>
<footer>Copyright Brackwater Guide. Cookie settings. Subscribe to our newsletter.</footer>
</body></html>""".encode()


async def _refetched(client: httpx.AsyncClient, doc_id: str, before: str | None,
                     timeout: float = 90) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        doc: dict[str, Any] = (await client.get(f"/v1/documents/{doc_id}")).json()
        if doc["fetched_at"] != before and doc["status"] in ("ready", "failed"):
            return doc
        assert asyncio.get_running_loop().time() < deadline, doc
        await asyncio.sleep(0.3)


async def test_a_page_by_url_is_fetched_cited_with_its_link_and_refetched(
        client: httpx.AsyncClient, site: FakeSite, stack: Stack) -> None:
    path = f"/skerrow-{uuid.uuid4().hex[:6]}"
    first = f"Maelis Ardent-{uuid.uuid4().hex[:5]}"
    site.pages[path] = Page(article(first))
    url = f"{site.url}{path}"
    r = await client.post("/v1/documents", json={"url": url})
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["url"] == url and doc["status"] == "queued" and doc["fetched_at"] is None

    indexed = await wait_until_indexed(client, doc["id"])
    assert indexed["status"] == "ready", (indexed, stack.logs())
    assert indexed["title"] == "Skerrow Light" and indexed["fetched_at"]
    assert indexed["changes"] is None
    seen = [s for s in site.seen if s.path == path]
    assert seen and "cookie" not in seen[-1].headers and "authorization" not in seen[-1].headers

    cid = await new_conversation(client)
    answer = await ask(client, cid, "Who is the keeper of Skerrow Light?")
    assert answer.last.event == "done", stack.logs()
    assert first in answer.text
    assert {(c["document_id"], c["url"]) for c in cited(answer)} == {(doc["id"], url)}
    # Only the article was indexed: the menu and the footer are not.
    boiler = await ask(client, cid, "What does the newsletter cookie settings footer say?")
    assert "Subscribe to our newsletter" not in boiler.text
    assert "Menu item" not in boiler.text

    second = f"Oriel Vance-{uuid.uuid4().hex[:5]}"
    site.pages[path] = Page(article(second))
    r = await client.post(f"/v1/documents/{doc['id']}/refetch")
    assert r.status_code == 202, r.text
    again = await _refetched(client, doc["id"], indexed["fetched_at"])
    assert again["status"] == "ready" and again["error"] is None, again
    assert f"-The keeper of Skerrow Light is {first}" in again["changes"]
    assert f"+The keeper of Skerrow Light is {second}" in again["changes"]
    later = await ask(client, cid, "Who is the keeper of Skerrow Light now?")
    assert second in later.text and first not in later.text

    # The official client gets the same knowledge.
    oai = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev", max_retries=0,
                             default_headers={"X-Dev-Tenant": client.headers["X-Dev-Tenant"]})
    try:
        done = await oai.chat.completions.create(
            model="local", messages=[{"role": "user",
                                      "content": "Who is the keeper of Skerrow Light?"}])
        assert second in (done.choices[0].message.content or "")
    finally:
        await oai.close()

    # A page that stops answering keeps what it had, with the reason.
    site.pages[path] = Page(b"gone", status=410, content_type="text/plain")
    await client.post(f"/v1/documents/{doc['id']}/refetch")
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        kept = (await client.get(f"/v1/documents/{doc['id']}")).json()
        if kept["error"] or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.3)
    assert kept["status"] == "ready" and "410" in kept["error"], kept
    assert (await client.delete(f"/v1/documents/{doc['id']}")).status_code == 204


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
    "http://user:pw@example.com/", "gopher://example.com/", "http://[fd00:ec2::254]/",
])
async def test_urls_that_can_never_be_fetched_are_refused_at_once(
        client: httpx.AsyncClient, url: str) -> None:
    r = await client.post("/v1/documents", json={"url": url})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_url", r.text


async def test_a_redirect_to_an_internal_address_fails_the_document(
        client: httpx.AsyncClient, site: FakeSite) -> None:
    path = f"/hop-{uuid.uuid4().hex[:6]}"
    site.pages[path] = Page.redirect("http://169.254.169.254/latest/meta-data/iam/")
    r = await client.post("/v1/documents", json={"url": f"{site.url}{path}"})
    assert r.status_code == 202, r.text
    failed = await wait_until_indexed(client, r.json()["id"])
    assert failed["status"] == "failed" and "internal address" in failed["error"]
