"""The chat page in a real browser against a real ``chatstream up``: an answer streams
to its end, a reload mid-answer picks it up with no gap and no repeat, an uploaded
document is cited, stop ends an answer as stopped, and markup typed by anyone stays text."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import Page, expect

from tests.support.stacks import Stack
from tests.web.chat import (
    answers,
    conversation_id,
    open_page,
    send,
    stored_answer,
    text_of,
    wait_finished,
)

# The offline model echoes a statement back ("Noted: ..."), a word every 60 ms: this one
# takes about ten seconds to answer, time enough to reload or stop in the middle.
LONG = " ".join(f"Inventory line {i}: crate {i} holds {fruit} for the harbour market."
                for i, fruit in enumerate(
                    ["apples", "pears", "plums", "quinces", "figs", "dates", "limes",
                     "lemons", "cherries", "apricots", "peaches", "grapes", "melons",
                     "mangoes", "papayas"], start=1))

# Records every length the answer's text goes through, to tell streaming from a
# text that arrives all at once.
WATCH_LENGTHS = """() => {
  window.__lengths = [];
  new MutationObserver(() => {
    const bodies = document.querySelectorAll("article.msg.assistant .body");
    const n = bodies.length ? bodies[bodies.length - 1].textContent.length : 0;
    if (n && window.__lengths.at(-1) !== n) window.__lengths.push(n);
  }).observe(document.getElementById("messages"),
             {childList: true, subtree: true, characterData: true});
}"""


def folded(text: str) -> str:
    return " ".join(text.split())


async def test_a_message_streams_its_answer_to_the_end(page: Page, web_stack: Stack,
                                                       api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    model = page.get_by_role("combobox", name="Model")
    await expect(model.locator("option[value=extractive]")).to_be_attached()
    await page.evaluate(WATCH_LENGTHS)
    message = ("My favourite colour is teal, my cat is called Miso, and the spare key "
               "hangs behind the blue door in the hallway.")
    answer = await send(page, message)
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    await wait_finished(answer)
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    await expect(page.get_by_role("button", name="Send")).to_be_enabled()

    rid = await answer.get_attribute("data-request-id")
    assert rid
    cid = conversation_id(page)
    stored = await stored_answer(api, cid, rid)
    shown = await text_of(answer)
    assert shown == folded(stored["text"]) and "Miso" in shown
    lengths: list[int] = await page.evaluate("window.__lengths")
    assert len(lengths) >= 5 and lengths == sorted(lengths), lengths  # grew, word by word

    # The conversation is listed, titled by the model after its first answer (the offline
    # model: the question's first clause), and is the current one.
    title = "My favourite colour is teal"
    link = page.get_by_role("link", name=title)
    await expect(link).to_have_attribute("aria-current", "page")
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(page.locator("article.msg.user .body")).to_have_text(message)

    # A new chat empties the view; the list brings the conversation back from the store.
    await page.get_by_role("button", name="New chat").click()
    await expect(answers(page)).to_have_count(0)
    await link.click()
    await expect(answers(page)).to_have_count(1)
    assert await text_of(answers(page).first) == shown


async def test_reload_mid_answer_shows_it_all_and_streams_to_the_end(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    answer = await send(page, LONG)
    await expect(answer.locator(".body")).to_contain_text("line 3:")
    assert await answer.get_attribute("data-state") == "streaming"
    before = await text_of(answer)
    rid = await answer.get_attribute("data-request-id")

    await page.reload()
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")
    answer = answers(page).first
    # The same answer, picked up while it is still being written...
    await expect(answer).to_have_attribute("data-request-id", rid or "")
    await expect(answer).to_have_attribute("data-state", "streaming")
    await wait_finished(answer)

    # ...showing what was generated before the reload and the rest, once each.
    shown = await text_of(answer)
    stored = await stored_answer(api, conversation_id(page), rid or "")
    assert shown == folded(stored["text"])
    assert shown.startswith(before) and len(shown) > len(before)
    assert shown.count("line 1:") == 1 and shown.count("line 15:") == 1
    await expect(answers(page)).to_have_count(1)
    await expect(page.locator("article.msg.user")).to_have_count(1)
    await expect(answer.locator(".note")).to_have_count(0)


async def test_an_uploaded_document_is_cited_under_the_answer(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    keeper = f"Teodric Ashmole-{uuid.uuid4().hex[:6]}"
    filename = f"quorvane-{uuid.uuid4().hex[:6]}.txt"
    await page.evaluate("""() => {
      window.__statuses = [];
      new MutationObserver(() => {
        for (const s of document.querySelectorAll("#documents .document-status")) {
          if (window.__statuses.at(-1) !== s.textContent) window.__statuses.push(s.textContent);
        }
      }).observe(document.getElementById("documents"),
                 {childList: true, subtree: true, characterData: true});
    }""")
    text = ("Staff notes of the Quorvane lighthouse.\n\n"
            f"The Quorvane lighthouse keeper is {keeper}.\n\n"
            "The lamp is lit at dusk and trimmed at midnight.\n")
    await page.get_by_label("Upload a document").set_input_files(
        files=[{"name": filename, "mimeType": "text/plain", "buffer": text.encode()}])
    row = page.locator("#documents li", has_text=filename)
    await expect(row).to_have_attribute("data-status", "ready", timeout=90_000)
    await expect(row).to_contain_text("Ready: 1 passage")
    document_id = await row.get_attribute("data-id")
    statuses: list[str] = await page.evaluate("window.__statuses")
    assert statuses[0].startswith("Uploading") and statuses[-1] == "Ready: 1 passage", statuses
    assert "Queued for indexing" in statuses, statuses

    answer = await send(page, "Who is the keeper of the Quorvane lighthouse?")
    await wait_finished(answer)
    await expect(answer.locator(".body")).to_contain_text(keeper)
    sources = answer.locator(".sources")
    await expect(sources.get_by_role("heading", name="Sources")).to_be_visible()
    await expect(sources.locator("li")).to_have_count(1)
    await expect(sources.get_by_role("button")).to_have_text(f"{filename} passage 1")
    await expect(sources.locator("li")).to_contain_text(f"keeper is {keeper}")  # an excerpt
    await expect(sources.locator("li")).to_have_attribute("data-document-id", document_id or "")

    # Stored with the answer: a reload shows the same sources from the history.
    await page.reload()
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")
    await expect(answers(page).first.locator(".sources li button")).to_have_text(
        f"{filename} passage 1")


async def test_markup_in_messages_is_shown_as_text_and_never_runs(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    payload = ('Keep this snippet: <script>window.__xss = 1</script> '
               '<img src=x onerror="window.__xss = 2"> and [a link](javascript:window.__xss=3)')
    answer = await send(page, payload)
    await wait_finished(answer)
    await expect(page.locator("article.msg.user .body")).to_have_text(payload)
    await expect(answer.locator(".body")).to_contain_text(
        '<script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2">')
    assert await page.locator("#messages script, #messages img").count() == 0
    assert await answer.locator("a").count() == 0  # a javascript: link stays text
    assert await page.evaluate("window.__xss") is None


async def test_stop_ends_the_answer_as_stopped(page: Page, web_stack: Stack,
                                               api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    answer = await send(page, LONG)
    await expect(answer.locator(".body")).to_contain_text("line 2:")
    await page.get_by_role("button", name="Stop").click()
    await wait_finished(answer, "stopped")
    await expect(answer.locator(".ending")).to_have_text("Stopped")
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    await expect(page.get_by_role("button", name="Send")).to_be_enabled()
    shown = await text_of(answer)
    assert "line 15:" not in shown  # it ended before the end

    stored = await stored_answer(api, conversation_id(page), await answer.get_attribute(
        "data-request-id") or "")
    assert stored["finish_reason"] == "cancelled"
    await page.reload()
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")
    await expect(answers(page).first).to_have_attribute("data-state", "stopped")
    await expect(answers(page).first.locator(".ending")).to_have_text("Stopped")
    assert re.sub(r"\s+", " ", stored["text"]).strip() == shown
