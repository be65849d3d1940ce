"""What a person does on the chat page, as steps the browser tests share. Locators go by
role and label, the way assistive technology finds them, so the tests check those too."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from playwright.async_api import Locator, Page, expect

__all__ = ("answers", "conversation_id", "open_page", "send", "stored_answer", "text_of",
           "wait_finished")

async def open_page(page: Page, url: str, fragment: str = "") -> None:
    await page.goto(f"{url}/{fragment}")
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")


async def send(page: Page, text: str) -> Locator:
    """Type ``text``, press Enter, and return the answer it starts."""
    before = await answers(page).count()
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Enter")
    answer = answers(page).nth(before)
    await expect(answer).to_be_attached()
    return answer


def answers(page: Page) -> Locator:
    return page.locator("article.msg.assistant")


async def wait_finished(answer: Locator, state: str = "done", timeout: float = 60_000) -> None:
    await expect(answer).to_have_attribute(
        "data-state", re.compile(r"^(done|stopped|blocked|error)$"), timeout=timeout)
    assert await answer.get_attribute("data-state") == state, await answer.inner_text()


async def text_of(answer: Locator) -> str:
    """The answer's text as shown, whitespace folded."""
    return " ".join((await answer.locator(".body").inner_text()).split())


def conversation_id(page: Page) -> str:
    m = re.search(r"#/c/([^/]+)$", page.url)
    assert m, f"no conversation in {page.url}"
    return m.group(1)


async def stored_answer(api: httpx.AsyncClient, cid: str, request_id: str,
                        timeout: float = 30.0) -> dict[str, Any]:
    """The assistant message the store holds for ``request_id`` (persistence is its own
    consumer group: the store catches up a moment after ``done``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await api.get(f"/v1/conversations/{cid}/messages")
        assert r.status_code == 200, r.text
        found = [m for m in r.json()["data"]
                 if m["role"] == "assistant" and m["request_id"] == request_id]
        if found:
            return dict(found[0])
        assert asyncio.get_running_loop().time() < deadline, f"{request_id} never stored"
        await asyncio.sleep(0.1)
