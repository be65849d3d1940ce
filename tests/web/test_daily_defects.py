"""The defects a week of daily use found on the page (#29), each as a person meets it, in
Chromium against a real ``chatstream up``: the layout with many conversations and a failed
upload, the message limit, models that cannot answer, Stop while offline, an answer seen
from a second tab, notices, focus, confirmations, words meant for operators, titles, the
phone's top bar and status view, and the dark theme's placeholder contrast."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.stacks import Stack
from tests.web.chat import answers, conversation_id, open_page, send, text_of, wait_finished
from tests.web.conftest import on_phone
from tests.web.test_chat_page import LONG

# The centre of an element, and whether it is what a click there would reach.
HIT = """(el) => {
  const r = el.getBoundingClientRect();
  const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
  return el === top || el.contains(top);
}"""


async def conversations(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await api.get("/v1/conversations")
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


async def test_a_long_list_of_conversations_stays_above_the_library_and_account_actions(
        device: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    page = device
    for i in range(14):
        assert (await api.post("/v1/conversations", json={
            "title": f"Planning note {i}"})).status_code == 201
    await open_page(page, web_stack.url)
    if on_phone(page):
        await page.get_by_role("button", name="Conversations and documents").click()
    sidebar = page.get_by_role("complementary", name="Conversations and documents")
    await expect(sidebar.get_by_role("link", name="Planning note 0")).to_be_attached()
    # The account actions stay reachable, drawn over by nothing.
    usage = sidebar.get_by_role("button", name="Usage and keys")
    await expect(usage).to_be_in_viewport()
    assert await usage.evaluate(HIT)
    # The list ends where the library starts: they never overlap.
    last = sidebar.get_by_role("link", name="Planning note 0")
    library = page.locator("#documents-section")
    assert (await last.bounding_box())["y"] + (await last.bounding_box())["height"] <= \
        (await library.bounding_box())["y"] + 1
    upload = library.get_by_text("Upload a document")
    await upload.scroll_into_view_if_needed()
    assert await upload.evaluate(HIT)


async def test_a_failed_uploads_long_type_wraps_inside_the_sidebar(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    kind = "application/vnd." + "unheardofformat" * 10  # no place to break a line
    await page.get_by_label("Upload a document").set_input_files(
        files=[{"name": "notes.bin", "mimeType": kind, "buffer": b"\x00\x01 not a document"}])
    card = page.locator("#documents li[data-status=failed]")
    await expect(card).to_contain_text("Upload failed")
    await expect(card).to_contain_text("unheardofformat")
    sidebar = await page.locator("#sidebar").bounding_box()
    box = await card.bounding_box()
    assert sidebar and box and sidebar["width"] == 290
    assert box["x"] + box["width"] <= sidebar["x"] + sidebar["width"]  # inside it
    assert await card.evaluate("el => el.scrollWidth <= el.clientWidth")


async def test_a_message_over_the_limit_is_counted_and_leaves_no_conversation(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    box = page.get_by_label("Message", exact=True)
    count = page.locator("#composer-count")
    await box.fill("x" * 15_000)
    await expect(count).to_have_text("1000 characters left")
    await box.fill("x" * 16_002)
    await expect(count).to_have_text("2 characters over the limit of 16000")
    await expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    await expect(box).to_have_attribute("aria-invalid", "true")
    await box.press("Enter")
    await box.fill("A short question about the ferry.")
    await expect(count).to_have_text("")
    # Refused by the server (here a plan's limit): the conversation made for it goes.
    await page.route("**/v1/conversations/*/messages", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "30"}, content_type="application/json",
        body='{"error": {"code": "rate_limited", "message": "requests_per_minute reached"}}'))
    await box.press("Enter")
    await expect(page.locator("#notice")).to_contain_text("Not sent: requests_per_minute")
    await expect(page).to_have_url(re.compile(r"#/$"))
    assert await conversations(api) == []
    await expect(box).to_have_value("A short question about the ferry.")  # kept to retry


async def test_models_that_cannot_answer_are_shown_but_not_offered(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    picker = page.get_by_role("combobox", name="Model")
    hosted = picker.locator("option[value='gpt-4o-mini']")  # no OpenAI key here
    await expect(hosted).to_have_text("gpt-4o-mini (unavailable)")
    await expect(hosted).to_be_disabled()
    await expect(hosted).to_have_attribute("title", "no OpenAI API key is configured")
    await expect(picker.locator("option[value=extractive]")).to_be_enabled()


async def test_stop_pressed_while_offline_stops_the_answer_once_back(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    answer = await send(page, LONG)
    await expect(answer.locator(".body")).to_contain_text("line 2:")
    await page.context.set_offline(True)
    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#notice")).to_contain_text("waiting for the server")
    await page.context.set_offline(False)
    await wait_finished(answer, "stopped")
    assert "line 15:" not in await text_of(answer)


async def test_an_answer_under_way_shows_in_another_tab_with_stop(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    answer = await send(page, LONG)
    await expect(answer.locator(".body")).to_contain_text("line 2:")
    other = await page.context.new_page()  # a second tab: its own sessionStorage
    await open_page(other, web_stack.url, f"#/c/{conversation_id(page)}")
    seen = answers(other).first
    await expect(seen).to_have_attribute("data-state", "streaming")
    await expect(other.get_by_role("button", name="Stop")).to_be_visible()
    await expect(other.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    await other.get_by_role("button", name="Stop").click()  # stops it for both tabs
    await wait_finished(seen, "stopped")
    await wait_finished(answer, "stopped")
    assert await text_of(seen) == await text_of(answer)
    await expect(other.get_by_role("button", name="Send", exact=True)).to_be_enabled()


async def test_notices_go_when_the_page_moves_on(page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    notice = page.locator("#notice")
    await wait_finished(await send(page, "The ferry leaves at nine."))
    second = await send(page, LONG)
    await expect(second).to_have_attribute("data-state", "streaming")
    assert not await notice.is_visible() or "complete" not in await notice.inner_text()
    await page.get_by_role("button", name="Stop").click()
    await wait_finished(second, "stopped")
    # A failed answer's notice stays with its conversation.
    await page.route("**/v1/requests/*/events", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body='id: 1\nevent: error\ndata: {"code": "provider_error", "message": "down"}\n\n'))
    failed = await send(page, "And when does it come back?")
    await wait_finished(failed, "error")
    await expect(notice).to_have_text("The answer failed.")
    await page.unroute("**/v1/requests/*/events")
    await page.get_by_role("button", name="New chat").click()
    await expect(notice).to_be_hidden()


async def test_focus_stays_in_the_message_box(page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    box = page.get_by_label("Message", exact=True)
    await expect(box).to_be_focused()  # on the first visit
    answer = await send(page, LONG)
    await expect(answer.locator(".body")).to_contain_text("line 2:")
    await page.get_by_role("button", name="Stop").click()
    await wait_finished(answer, "stopped")
    await expect(box).to_be_focused()  # not <body>: Stop hid itself


async def test_removing_a_document_asks_first(page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    await page.get_by_label("Upload a document").set_input_files(files=[{
        "name": "menu.txt", "mimeType": "text/plain", "buffer": b"Soup of the day: leek."}])
    row = page.locator("#documents li", has_text="menu.txt")
    await expect(row).to_have_attribute("data-status", "ready", timeout=60_000)
    confirm = page.get_by_role("dialog", name=re.compile("Remove “menu.txt”"))
    await row.get_by_role("button", name="Remove menu.txt").click()
    await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    await page.keyboard.press("Escape")  # the same as Cancel
    await expect(confirm).to_be_hidden()
    await expect(row).to_be_visible()
    await row.get_by_role("button", name="Remove menu.txt").click()
    await confirm.get_by_role("button", name="Remove").click()
    await expect(row).to_have_count(0)


async def test_words_are_for_people_not_operators(page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    await page.get_by_role("button", name="Usage and keys").click()
    await expect(page.locator("#usage")).to_have_text(
        "Usage is not tracked on this server: it runs without accounts.")
    await page.locator("#account [data-close]").click()
    await page.get_by_role("button", name="Status").click()
    await expect(page.locator("#breakers li", has_text="extractive")).to_have_text(
        "extractive: working")


async def test_titles_are_plain_words_and_conversations_have_dates(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    await wait_finished(await send(page, "**Packing** list for the *Skerry* trip: tents."))
    title = "Packing list for the Skerry trip"
    link = page.get_by_role("link", name=title)
    await expect(link).to_be_visible()  # written by the model, without the Markdown
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    group = page.locator(".conversation-group", has=link)
    await expect(group.get_by_role("heading", level=3)).to_have_text("Today")
    await expect(link).to_have_attribute("title", re.compile(rf"{title}\nStarted .*\d"))
    [stored] = await conversations(api)
    assert stored["title"] == title


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_on_a_phone_the_title_keeps_the_top_bar(
        scheme: str, phone: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    title = "Timetable of the winter ferries to Skarholm"
    cid = (await api.post("/v1/conversations", json={"title": title})).json()["id"]
    await phone.emulate_media(color_scheme=scheme)
    await open_page(phone, web_stack.url, f"#/c/{cid}")
    heading = phone.get_by_role("heading", level=1)
    await expect(heading).to_have_text(title)
    assert await heading.evaluate("el => el.getBoundingClientRect().width") >= 260
    # The conversation's actions are one tap away.
    await phone.get_by_role("button", name="More actions").click()
    await expect(phone.get_by_role("button", name="Export")).to_be_visible()
    await expect(phone.get_by_role("button", name="Conversation settings")).to_be_visible()
    await phone.keyboard.press("Escape")
    await expect(phone.get_by_role("button", name="Export")).to_be_hidden()


async def test_on_a_phone_the_status_view_needs_no_sideways_scrolling(
        phone: Page, web_stack: Stack) -> None:
    await open_page(phone, web_stack.url)
    await phone.get_by_role("button", name="Conversations and documents").click()
    await phone.get_by_role("button", name="Status").click()
    dialog = phone.get_by_role("dialog", name="Pipeline status")
    await expect(dialog.locator("tr[data-stage=inference]")).to_be_visible()
    assert await dialog.evaluate("el => el.scrollWidth <= el.clientWidth")
    wrap = dialog.locator(".table-wrap")
    assert await wrap.evaluate("el => el.scrollWidth <= el.clientWidth")


CONTRAST = """(el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const fg = lum(rgb(getComputedStyle(el, "::placeholder").color));
  const bg = lum(rgb(getComputedStyle(el).backgroundColor));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_placeholders_are_readable(scheme: str, page: Page, web_stack: Stack) -> None:
    await page.emulate_media(color_scheme=scheme)
    await open_page(page, web_stack.url)
    for box in (page.get_by_label("Message", exact=True),
                page.get_by_label("Search conversations")):
        assert await box.evaluate(CONTRAST) >= 4.5
