"""What a daily user of a chat page expects (#29), in Chromium against a real
``chatstream up``: rename and delete, edit and regenerate with versions the history
follows, copy, times and speed, the list by day, search, attachments from the composer,
sources that open their passage, per-conversation settings, export, jump to latest, and a
list kept current across tabs."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.support.documents import make_paged_pdf
from tests.support.stacks import Stack
from tests.web.chat import answers, conversation_id, open_page, send, text_of, wait_finished
from tests.web.conftest import on_phone


async def create(api: httpx.AsyncClient, **body: Any) -> str:
    r = await api.post("/v1/conversations", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def stored(api: httpx.AsyncClient, cid: str, count: int) -> list[dict[str, Any]]:
    """The conversation's messages once ``count`` are stored."""
    for _ in range(300):
        data: list[dict[str, Any]] = (await api.get(
            f"/v1/conversations/{cid}/messages")).json()["data"]
        if len(data) >= count:
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} messages never stored")


async def ask(api: httpx.AsyncClient, cid: str, text: str) -> None:
    before = len((await api.get(f"/v1/conversations/{cid}/messages")).json()["data"])
    r = await api.post(f"/v1/conversations/{cid}/messages", json={"text": text})
    assert r.status_code == 202, r.text
    await stored(api, cid, before + 2)


async def test_a_conversation_is_renamed_in_place_and_deleted_after_asking(
        device: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    page = device
    cid = await create(api, title="Draft")
    await create(api, title="Keep me")
    await open_page(page, web_stack.url, f"#/c/{cid}")
    if on_phone(page):
        await page.get_by_role("button", name="Conversations and documents").click()
    await page.get_by_role("button", name="Rename Draft").click()
    box = page.get_by_role("textbox", name="New title")
    await expect(box).to_be_focused()
    await expect(box).to_have_value("Draft")
    await box.fill("Ferry plans")
    await box.press("Enter")
    await expect(page.get_by_role("link", name="Ferry plans")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ferry plans")
    assert (await api.get(f"/v1/conversations/{cid}")).json()["title"] == "Ferry plans"
    # Escape leaves the title as it was.
    await page.get_by_role("button", name="Rename Ferry plans").click()
    await page.get_by_role("textbox", name="New title").fill("Not this")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("link", name="Ferry plans")).to_be_visible()

    await page.get_by_role("button", name="Delete Ferry plans").click()
    confirm = page.get_by_role("dialog", name=re.compile("Delete “Ferry plans”"))
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("link", name="Ferry plans")).to_have_count(0)
    await expect(page.get_by_role("link", name="Keep me")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"#/$"))  # it was the one shown
    assert (await api.get(f"/v1/conversations/{cid}")).status_code == 404


async def test_edits_and_regenerations_are_versions_and_the_history_follows_them(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    await wait_finished(await send(page, "My cat is called Miso."))
    first = await send(page, "What is my cat called?")
    await wait_finished(first)
    assert "Miso" in await text_of(first)

    questions = page.locator("article.msg.user")
    await questions.first.get_by_role("button", name="Edit this message").click()
    edited = page.get_by_label("Edited message")
    await expect(edited).to_be_focused()
    await edited.fill("My cat is called Tibbles.")
    await edited.press("Enter")
    await expect(questions).to_have_count(1)  # the new branch: only the edit so far
    await expect(questions.first.locator(".version-count")).to_have_text("2 / 2")
    await wait_finished(answers(page).first)
    on_edit = await send(page, "What is my cat called?")
    await wait_finished(on_edit)
    assert "Tibbles" in await text_of(on_edit) and "Miso" not in await text_of(on_edit)

    # The first version, with its own answers.
    await questions.first.get_by_role("button", name="Previous version").click()
    await expect(questions.first.locator(".body")).to_have_text("My cat is called Miso.")
    await expect(answers(page)).to_have_count(2)
    assert "Miso" in await text_of(answers(page).last)

    # Another version of the last answer: regenerated, then browsed back.
    await answers(page).last.get_by_role("button", name="Regenerate this answer").click()
    await expect(answers(page).last.locator(".version-count")).to_have_text("2 / 2")
    await wait_finished(answers(page).last)
    assert "Miso" in await text_of(answers(page).last)
    await answers(page).last.get_by_role("button", name="Previous version").click()
    await expect(answers(page).last.locator(".version-count")).to_have_text("1 / 2")

    # Stored as a tree: a reload shows the newest branch, with its versions.
    cid = conversation_id(page)
    messages = await stored(api, cid, 9)
    assert sum(m["parent_id"] is None for m in messages) == 2  # two first questions
    await page.reload()
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")
    await expect(questions.first.locator(".version-count")).to_have_text("2 / 2")
    await expect(questions.first.locator(".body")).to_have_text("My cat is called Tibbles.")


async def test_a_whole_answer_is_copied_and_shows_its_time_and_speed(
        page: Page, web_stack: Stack) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                         origin=web_stack.url)
    await open_page(page, web_stack.url)
    answer = await send(page, "The ferry to Skarholm leaves at nine from pier two.")
    await wait_finished(answer)
    footer = answer.locator(".msg-footer")
    await expect(footer.locator("time")).to_have_text(re.compile(r"^\d{1,2}:\d{2}"))
    assert re.match(r"\d{4}-\d\d-\d\dT", await footer.locator("time").get_attribute(
        "datetime") or "")
    speed = re.compile(r"\d+\.\d s to first token · \d+ tokens/s · \d+ tokens")
    await expect(footer.locator(".msg-stats")).to_have_text(speed)
    await footer.get_by_role("button", name="Copy the whole answer").click()
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == await text_of(answer)
    assert copied.startswith("Noted:") and copied.endswith("from pier two.")
    await expect(page.locator("article.msg.user time")).to_be_visible()
    await page.reload()  # the stored answer keeps its timings
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")
    await expect(answers(page).first.locator(".msg-stats")).to_have_text(speed)


GROUPS = """async () => {
  const { groupOf } = await import("/static/js/dates.js");
  const now = new Date(2026, 5, 15, 12, 0);
  const at = (days) => new Date(2026, 5, 15 - days, 9, 0).toISOString();
  return [0, 1, 3, 20, 45].map((d) => groupOf(at(d), now));
}"""


async def test_the_list_is_grouped_by_the_day_conversations_began(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    assert await page.evaluate(GROUPS) == ["Today", "Yesterday", "Previous 7 days",
                                           "Previous 30 days", "May 2026"]


async def test_search_finds_titles_and_message_text_on_the_server(
        device: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    page = device
    word = f"quorvane{uuid.uuid4().hex[:4]}"
    by_title = await create(api, title=f"Rota of the {word} lighthouse")
    by_text = await create(api, title="Packing")
    await ask(api, by_text, f"Bring the {word.upper()} lamp oil and spare wicks.")
    await open_page(page, web_stack.url)
    if on_phone(page):
        await page.get_by_role("button", name="Conversations and documents").click()
    search = page.get_by_label("Search conversations")
    await search.fill(word)
    results = page.get_by_role("region", name="Search results")
    await expect(results.get_by_role("heading")).to_have_text(f"2 found for “{word}”")
    hit = results.get_by_role("link", name=re.compile("^Packing"))
    await expect(hit).to_contain_text(f"Bring the {word.upper()} lamp oil")
    await expect(results.get_by_role("link", name=re.compile("^Rota of"))).to_be_visible()
    await hit.click()
    await expect(page).to_have_url(re.compile(f"#/c/{by_text}$"))
    await expect(page.locator("article.msg.user")).to_contain_text("lamp oil")
    if on_phone(page):
        await page.get_by_role("button", name="Conversations and documents").click()
    await search.press("Escape")  # clears the search: the list is back
    await expect(results).to_be_hidden()
    await expect(page.get_by_role("link", name=f"Rota of the {word} lighthouse")).to_be_visible()
    assert by_title


DROP = """([name, text]) => {
  const files = new DataTransfer();
  files.items.add(new File([text], name, { type: "text/plain" }));
  const main = document.querySelector(".main");
  main.dispatchEvent(new DragEvent("dragenter", { dataTransfer: files, bubbles: true }));
  const shown = !document.getElementById("drop-zone").hidden;
  main.dispatchEvent(new DragEvent("drop", { dataTransfer: files, bubbles: true,
                                             cancelable: true }));
  return shown;
}"""

PASTE = """([name, text]) => {
  const files = new DataTransfer();
  files.items.add(new File([text], name, { type: "text/plain" }));
  document.getElementById("message").dispatchEvent(new ClipboardEvent("paste", {
    clipboardData: files, bubbles: true, cancelable: true }));
}"""


async def test_files_attached_from_the_composer_are_cited_in_their_conversation_only(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    tag = uuid.uuid4().hex[:6]
    facts = {"clip.txt": f"The Brindlemoor mill grinds barley-{tag} on Tuesdays.",
             "drop.txt": f"The Brindlemoor mill's miller is Aldous-{tag}.",
             "paste.txt": f"The Brindlemoor mill's wheel is painted teal-{tag}."}
    await page.locator("#attach-input").set_input_files(files=[{
        "name": "clip.txt", "mimeType": "text/plain", "buffer": facts["clip.txt"].encode()}])
    # Attaching to a new chat starts the conversation.
    await expect(page).to_have_url(re.compile(r"#/c/[^/]+$"))
    cid = conversation_id(page)
    assert await page.evaluate(DROP, ["drop.txt", facts["drop.txt"]])
    await expect(page.locator("#drop-zone")).to_be_hidden()
    await page.evaluate(PASTE, ["paste.txt", facts["paste.txt"]])
    chips = page.get_by_role("list", name="Attached to this conversation")
    for name in facts:
        await expect(chips.locator("li", has_text=name)).to_have_attribute(
            "data-status", "ready", timeout=60_000)
    answer = await send(page, "Who is the miller of the Brindlemoor mill?")
    await wait_finished(answer)
    await expect(answer.locator(".body")).to_contain_text(f"Aldous-{tag}")
    await expect(answer.locator(".sources")).to_contain_text("drop.txt")

    attached = (await api.get("/v1/documents", params={
        "scope": f"conversation:{cid}"})).json()["data"]
    assert sorted(d["filename"] for d in attached) == sorted(facts)
    library = (await api.get("/v1/documents", params={"scope": "tenant"})).json()["data"]
    assert not library
    await expect(page.locator("#documents li")).to_have_count(0)  # not in the library
    await page.get_by_role("button", name="New chat").click()
    await expect(chips).to_be_hidden()
    elsewhere = await send(page, "Who is the miller of the Brindlemoor mill?")
    await wait_finished(elsewhere)
    assert f"Aldous-{tag}" not in await text_of(elsewhere)
    await expect(elsewhere.locator(".sources")).to_be_hidden()


async def test_a_source_opens_its_passage_on_its_page_with_what_was_drawn_on_marked(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    tag = uuid.uuid4().hex[:6]
    moorings = [f"Mooring {i} takes boats up to {i + 8} metres." for i in range(20)]
    pdf = make_paged_pdf([["Orvelle harbour handbook: moorings.", *moorings],
                          [f"The Orvelle harbour pilot is Maren Tully-{tag}.",
                           "The north quay has a crane for heavy cargo."]])
    await page.get_by_label("Upload a document").set_input_files(files=[{
        "name": "handbook.pdf", "mimeType": "application/pdf", "buffer": pdf}])
    await expect(page.locator("#documents li", has_text="handbook.pdf")).to_have_attribute(
        "data-status", "ready", timeout=90_000)
    answer = await send(page, "Who is the Orvelle harbour pilot?")
    await wait_finished(answer)
    source = answer.get_by_role("button", name=re.compile(r"^handbook\.pdf page 2, passage"))
    await expect(source).to_be_visible()
    await expect(answer.locator(".source-excerpt").first).to_contain_text("Maren Tully")
    await source.click()
    dialog = page.get_by_role("dialog", name="handbook.pdf")
    await expect(dialog.locator("#passage-where")).to_have_text(
        re.compile(r"^Page 2, passage \d+ of handbook\.pdf$"))
    await expect(dialog.locator("mark")).to_have_text(
        f"The Orvelle harbour pilot is Maren Tully-{tag}.")
    await expect(dialog.locator("#passage-text")).to_contain_text("crane")  # not marked
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()


async def test_settings_are_kept_per_conversation(page: Page, web_stack: Stack,
                                                  api: httpx.AsyncClient) -> None:
    await open_page(page, web_stack.url)
    await page.get_by_role("button", name="Conversation settings").click()
    dialog = page.get_by_role("dialog", name="Conversation settings")
    await dialog.get_by_label("System prompt").fill("Answer as a harbour master would.")
    await dialog.get_by_label("Model", exact=True).select_option("extractive")
    await dialog.get_by_label("Temperature").fill("0.4")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await wait_finished(await send(page, "The ferry leaves at nine."))  # creates it
    cid = conversation_id(page)
    kept = (await api.get(f"/v1/conversations/{cid}")).json()["settings"]
    assert kept == {"system_prompt": "Answer as a harbour master would.",
                    "model": "extractive", "temperature": 0.4}
    await expect(page.get_by_role("combobox", name="Model")).to_have_value("extractive")

    # Another conversation has its own; back in this one, they are as they were.
    await page.get_by_role("button", name="New chat").click()
    await page.get_by_role("button", name="Conversation settings").click()
    await expect(dialog.get_by_label("System prompt")).to_have_value("")
    await dialog.get_by_role("button", name="Close").click()
    await page.goto(f"{web_stack.url}/#/c/{cid}")
    await page.reload()
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")
    await page.get_by_role("button", name="Conversation settings").click()
    await expect(dialog.get_by_label("System prompt")).to_have_value(
        "Answer as a harbour master would.")
    await expect(dialog.get_by_label("Temperature")).to_have_value("0.4")
    await dialog.get_by_label("Temperature").fill("")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    kept = (await api.get(f"/v1/conversations/{cid}")).json()["settings"]
    assert kept["temperature"] is None and kept["model"] == "extractive"


async def test_a_conversation_is_exported_as_markdown_and_json(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    cid = await create(api, title="Ferry notes")
    await ask(api, cid, "The ferry leaves at nine.")
    await ask(api, cid, "It returns at six.")
    await open_page(page, web_stack.url, f"#/c/{cid}")
    await page.get_by_role("button", name="Export").click()
    dialog = page.get_by_role("dialog", name="Export this conversation")
    async with page.expect_download() as markdown:
        await dialog.get_by_role("button", name="Markdown").click()
    got = await markdown.value
    assert got.suggested_filename == "ferry-notes.md"
    text = (await got.path()).read_text()  # type: ignore[union-attr]
    assert text.startswith("# Ferry notes\n")
    assert text.index("The ferry leaves at nine.") < text.index("It returns at six.")
    await page.get_by_role("button", name="Export").click()
    async with page.expect_download() as data:
        await dialog.get_by_role("button", name="JSON").click()
    exported = json.loads((await (await data.value).path()).read_text())  # type: ignore[union-attr]
    assert [m["text"] for m in exported["messages"] if m["role"] == "user"] == [
        "The ferry leaves at nine.", "It returns at six."]


async def test_jump_to_latest_brings_back_the_end(page: Page, web_stack: Stack,
                                                  api: httpx.AsyncClient) -> None:
    cid = await create(api, title="Long notes")
    for i in range(8):  # answered one after another, read once all are stored
        r = await api.post(f"/v1/conversations/{cid}/messages", json={
            "text": f"Note {i}: the quay is busy at {i + 6} in the morning."})
        assert r.status_code == 202, r.text
    await stored(api, cid, 16)
    await page.set_viewport_size({"width": 1280, "height": 500})
    await open_page(page, web_stack.url, f"#/c/{cid}")
    jump = page.get_by_role("button", name="Jump to latest")
    await expect(jump).to_be_hidden()  # at the end already
    await page.locator("#messages").evaluate("el => el.scrollTo(0, 0)")
    await expect(jump).to_be_visible()
    await jump.click()
    await expect(jump).to_be_hidden()
    assert await page.locator("#messages").evaluate(
        "el => el.scrollHeight - el.scrollTop - el.clientHeight < 2")
    await expect(page.get_by_label("Message", exact=True)).to_be_focused()


async def test_the_list_follows_changes_made_in_another_tab(
        page: Page, web_stack: Stack, api: httpx.AsyncClient) -> None:
    cid = await create(api, title="Tide tables")
    await open_page(page, web_stack.url)
    other = await page.context.new_page()
    await open_page(other, web_stack.url, f"#/c/{cid}")
    await other.get_by_role("button", name="Rename Tide tables").click()
    await other.get_by_role("textbox", name="New title").fill("Tides of March")
    await other.keyboard.press("Enter")
    await expect(page.get_by_role("link", name="Tides of March")).to_be_visible()
    await other.get_by_role("button", name="New chat").click()
    await wait_finished(await send(other, "High water at noon."))
    await expect(page.get_by_role("link", name="High water at noon")).to_be_visible()
