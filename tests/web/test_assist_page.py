"""Assistants, memory and pages by URL on the page, in Chromium against a real
``chatstream up``: an assistant picked from the model list shows its variables and
starters and answers with its version; memory is seen, added, forgotten and paused; a
temporary chat keeps nothing; a page pasted by URL is fetched and listed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Page, expect

from harness.fake_site import FakeSite
from harness.fake_site import Page as SitePage
from tests.support.stacks import Stack
from tests.web.chat import conversation_id, open_page, send, wait_finished


@pytest.fixture(scope="module")
def site() -> Iterator[FakeSite]:
    s = FakeSite()
    s.start_in_thread()
    yield s
    s.stop_thread()


async def test_an_assistant_from_the_picker_answers_with_its_variables_and_starters(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    name = f"helpdesk-{uuid.uuid4().hex[:6]}"
    r = await api.post("/v1/assistants", json={
        "name": name, "title": "Helpdesk", "description": "Answers IT questions",
        "model": "extractive", "instructions": "Help the {{tier}} customer.",
        "variables": [{"name": "tier", "type": "enum", "choices": ["free", "pro"],
                       "description": "Plan"}],
        "starters": ["My laptop will not start."]})
    assert r.status_code == 201, r.text
    await open_page(page, web_stack.url)
    await page.get_by_role("combobox", name="Model").select_option(f"assistant:{name}")
    panel = page.locator("#assistant-panel")
    await expect(panel).to_contain_text("Helpdesk")
    await expect(panel).to_contain_text("version 1")
    await panel.get_by_label("Plan").select_option("pro")
    await panel.get_by_role("button", name="My laptop will not start.").click()
    answer = page.locator("article.msg.assistant").last
    await wait_finished(answer)
    cid = conversation_id(page)
    pinned = (await api.get(f"/v1/conversations/{cid}/assistant")).json()
    assert pinned == {"name": name, "version": 1, "latest": 1}
    stored = (await api.get(f"/v1/conversations/{cid}/messages")).json()["data"]
    assert stored[0]["text"] == "My laptop will not start."


async def test_memory_is_seen_added_forgotten_and_paused_and_a_temporary_chat_keeps_nothing(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    await page.get_by_role("button", name="Memory").click()
    dialog = page.locator("#memory")
    await expect(dialog).to_be_visible()
    fact = f"Has a parrot named Kiwi-{uuid.uuid4().hex[:4]}"
    await dialog.get_by_label("Remember").fill(fact)
    await dialog.get_by_role("button", name="Add").click()
    row = dialog.locator(".memory", has=page.locator(f"input[value='{fact}']"))
    await expect(row).to_have_count(1)
    kept = {m["text"]: m["id"] for m in (await api.get("/v1/memories")).json()["data"]}
    assert fact in kept
    await row.get_by_role("button", name="Forget").click()
    await expect(row).to_have_count(0)
    assert fact not in [m["text"] for m in (await api.get("/v1/memories")).json()["data"]]
    await dialog.get_by_label("Pause memory").check()
    await expect(dialog.locator("#memory-state")).to_contain_text("Paused")
    assert (await api.get("/v1/memories")).json()["paused"] is True
    await dialog.get_by_label("Pause memory").uncheck()
    await expect(dialog.locator("#memory-state")).to_have_text("")
    await dialog.get_by_role("button", name="Close").click()

    # A temporary chat: its message is not learnt from; the next, normal one is.
    place = f"Quillby{uuid.uuid4().hex[:4].upper()}"
    await page.get_by_label("Temporary chat (no memory)").check()
    await wait_finished(await send(page, f"I live in {place}."))
    await page.get_by_label("Temporary chat (no memory)").uncheck()
    await wait_finished(await send(page, "I use Haskell."))
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        texts = [m["text"] for m in (await api.get("/v1/memories")).json()["data"]]
        if "Uses Haskell" in texts or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.3)
    assert "Uses Haskell" in texts and f"Lives in {place}" not in texts


async def test_a_page_pasted_by_url_is_fetched_and_listed(
        page: Page, web_stack: Stack, site: FakeSite, api: httpx.AsyncClient) -> None:
    path = f"/guide-{uuid.uuid4().hex[:6]}"
    site.pages[path] = SitePage(b"<html><head><title>Harbour guide</title></head><body>"
                                b"<article><p>The harbour opens at six in the morning and "
                                b"closes at ten in the evening.</p></article></body></html>")
    await open_page(page, web_stack.url)
    await page.get_by_label("Add a page by URL").fill(f"{site.url}{path}")
    await page.get_by_role("button", name="Add page").click()
    url = f"{site.url}{path}"
    listed = page.locator("#documents .document", has_text=url)
    await expect(listed).to_contain_text("Ready", timeout=60_000)
    docs = (await api.get("/v1/documents")).json()["data"]
    assert [d["title"] for d in docs if d["url"] == url] == ["Harbour guide"]


async def test_the_page_url_box_wears_the_theme_like_the_search_box(
        page: Page, web_stack: Stack) -> None:
    """In dark mode the URL box was the browser's own light, square, unpadded field
    among themed ones."""
    await page.emulate_media(color_scheme="dark")
    await open_page(page, web_stack.url)
    look = """e => { const s = getComputedStyle(e);
        return [s.backgroundColor, s.color, s.borderRadius, s.paddingLeft]; }"""
    url_box = await page.get_by_label("Add a page by URL").evaluate(look)
    search_box = await page.locator(".search input").first.evaluate(look)
    assert url_box == search_box
