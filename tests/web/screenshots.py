"""The README's screenshots of the chat page, taken the way the browser tests drive it:
``python -m tests.web.screenshots [DIR]`` (``make screenshots``) starts ``chatstream up``
in a scratch directory, fills it with a document and two answers, and writes desktop
(1280x800) and phone (390x844) views, light and dark, into DIR (docs/img)."""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

from harness.process import ChatstreamProcess
from tests.support.browser import launch
from tests.support.documents import make_paged_pdf
from tests.web import screenshots_accounts
from tests.web.chat import answers, open_page, send, wait_finished

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

NOTES = make_paged_pdf([
    ["Staff notes of the Quorvane lighthouse.", "",
     "The Quorvane lighthouse keeper is Teodric Ashmole.",
     "He has kept the light since 1994."],
    ["The lamp is lit at dusk and trimmed at midnight.",
     "The fog horn sounds every thirty seconds when visibility",
     "falls below two nautical miles."]])

TRIP = """# Skerry trip

We camp on the north shore of the Skerry, above the shingle beach, two nights.
The ferry back leaves at four on Sunday.
"""

CODE = """Here is the backoff rule for the **billing** service:

```python
def backoff(attempt, base=0.5, cap=30.0):
    # double the wait each time, never past the cap
    return min(cap, base * 2 ** attempt)
```

Keep `cap` small: a waiting client holds a connection."""

STREAMING = ("Packing list for the Skerry trip: a pair of tents, four sleeping bags, the blue "
             "stove, a spare gas canister, oat bars for three days, a first aid kit, the tide "
             "tables, head torches with fresh batteries, and the waterproof map of the north "
             "shore.")


async def _new_page(browser: Browser, url: str, viewport: dict[str, int], scheme: str,
                    fragment: str = "") -> Page:
    context = await browser.new_context(viewport=viewport,  # type: ignore[arg-type]
                                        color_scheme=scheme,  # type: ignore[arg-type]
                                        device_scale_factor=1)
    page = await context.new_page()
    await open_page(page, url, fragment)
    await page.evaluate("document.fonts.ready")
    return page


async def _settle(page: Page) -> None:
    """No transient notice, and the conversation scrolled to its end."""
    await page.evaluate("""() => {
      document.activeElement?.blur();
      document.getElementById("notice").hidden = true;
      const m = document.getElementById("messages");
      m.scrollTop = m.scrollHeight;
    }""")


async def take(out: Path, url: str, browser: Browser) -> list[Path]:
    written: list[Path] = []

    async def shot(page: Page, name: str) -> None:
        path = out / f"{name}.png"
        await page.screenshot(path=str(path))
        written.append(path)

    page = await _new_page(browser, url, DESKTOP, "light")
    await page.get_by_label("Upload a document").set_input_files(files=[{
        "name": "quorvane-notes.pdf", "mimeType": "application/pdf", "buffer": NOTES}])
    row = page.locator("#documents li", has_text="quorvane-notes.pdf")
    await expect(row).to_have_attribute("data-status", "ready", timeout=90_000)
    await wait_finished(await send(page, "Who is the keeper of the Quorvane lighthouse?"))
    await wait_finished(await send(page, CODE))
    await wait_finished(await send(page, "When is the lamp lit at the lighthouse?"))
    # An edit of the last question: two versions of it.
    await page.locator("article.msg.user").last.get_by_role(
        "button", name="Edit this message").click()
    await page.get_by_label("Edited message").fill(
        "When is the lamp lit at the Quorvane lighthouse?")
    await page.get_by_label("Edited message").press("Enter")
    await expect(page.locator(".version-count")).to_have_text("2 / 2")
    await expect(answers(page).last).to_have_attribute("data-state", "done", timeout=60_000)
    fragment = page.url.split("/", 3)[3]
    await _settle(page)
    await shot(page, "chat-desktop-light")

    await answers(page).first.get_by_role(
        "button", name=re.compile(r"quorvane-notes\.pdf page 1")).click()
    await expect(page.locator("#passage-text mark").first).to_be_visible()
    await shot(page, "chat-source")
    await page.keyboard.press("Escape")

    await page.get_by_label("Search conversations").fill("lamp")
    await expect(page.locator("#search-results")).to_be_visible()
    await _settle(page)
    await shot(page, "chat-search")
    await page.get_by_label("Search conversations").fill("")

    await page.get_by_role("button", name="Conversation settings").click()
    settings = page.get_by_role("dialog", name="Conversation settings")
    await settings.get_by_label("System prompt").fill(
        "Answer as the lighthouse keeper would, in two sentences at most.")
    await settings.get_by_label("Temperature").fill("0.3")
    await shot(page, "chat-settings")
    await page.keyboard.press("Escape")

    dark = await _new_page(browser, url, DESKTOP, "dark", fragment)
    await _settle(dark)
    await shot(dark, "chat-desktop-dark")

    attach = await _new_page(browser, url, DESKTOP, "dark")
    await attach.locator("#attach-input").set_input_files(files=[{
        "name": "skerry-trip.md", "mimeType": "text/markdown", "buffer": TRIP.encode()}])
    chip = attach.locator("#attachments li", has_text="skerry-trip.md")
    await expect(chip).to_have_attribute("data-status", "ready", timeout=90_000)
    await wait_finished(await send(attach, "Where do we camp on the Skerry trip?"))
    await expect(attach.get_by_role("heading", level=1)).not_to_have_text("New conversation")
    await _settle(attach)
    await shot(attach, "chat-attach")

    for scheme in ("light", "dark"):
        phone = await _new_page(browser, url, PHONE, scheme, fragment)
        await _settle(phone)
        await shot(phone, f"chat-phone-{scheme}")
    await phone.get_by_role("button", name="More actions").click()
    await shot(phone, "chat-phone-actions-dark")
    await phone.keyboard.press("Escape")
    await phone.get_by_role("button", name="Conversations and documents").click()
    await expect(phone.get_by_role("complementary")).to_be_visible()
    await expect(phone.locator("#sidebar")).to_have_css("transform", "none")  # slid in
    await shot(phone, "chat-phone-menu-dark")

    streaming = await _new_page(browser, url, DESKTOP, "light")
    answer = await send(streaming, STREAMING)
    await expect(answer.locator(".body")).to_contain_text("sleeping bags")
    await _settle(streaming)
    await shot(streaming, "chat-streaming")
    await wait_finished(answers(streaming).first)
    return written


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        up = ChatstreamProcess(["up", "--port", "0"], {
            "CHATSTREAM_DATA_DIR": str(Path(tmp) / "data"),
            "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "60",
            # The pictures show the extractive model's answers, whether or not `make llm` ran.
            "CHATSTREAM_DEFAULT_MODEL": "extractive"}, Path(tmp) / "up.log").start()
        try:
            assert up.url
            async with async_playwright() as playwright:
                browser = await launch(playwright)
                try:
                    for path in await take(out, up.url, browser):
                        print(path)
                    for path in await screenshots_accounts.take(out, browser):
                        print(path)
                finally:
                    await browser.close()
        finally:
            up.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
