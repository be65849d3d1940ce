"""The README's screenshots of the page with accounts (``AUTH=jwt``): the sign-in form,
usage and keys, a batch with its progress, the operators' status view and a shared
conversation's public read-only view. ``make screenshots`` takes them after the chat
page's (tests/web/screenshots.py), with a ``chatstream up`` of their own."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from harness.process import ChatstreamProcess
from tests.tenancy.support import JWT_ENV, bootstrap
from tests.web.chat import send, wait_finished

DESKTOP = {"width": 1280, "height": 800}
TENANT = "harbour"
EMAIL = "mira@harbour.example"
PASSWORD = "correct horse battery"


async def _page(browser: Browser, url: str) -> Page:
    context = await browser.new_context(viewport=DESKTOP,  # type: ignore[arg-type]
                                        color_scheme="light", device_scale_factor=1)
    page = await context.new_page()
    await page.goto(f"{url}/")
    return page


async def take(out: Path, browser: Browser) -> list[Path]:
    written: list[Path] = []

    async def shot(page: Page, name: str) -> None:
        await page.evaluate("document.activeElement?.blur()")
        path = out / f"{name}.png"
        await page.screenshot(path=str(path))
        written.append(path)

    with tempfile.TemporaryDirectory() as tmp:
        env = {**JWT_ENV, "CHATSTREAM_DATA_DIR": str(Path(tmp) / "data"),
               "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "20", "CHATSTREAM_DEFAULT_MODEL": "extractive",
               "CHATSTREAM_OPERATOR_TENANT": TENANT}
        up = ChatstreamProcess(["up", "--port", "0"], env, Path(tmp) / "up.log").start()
        try:
            assert up.url
            bootstrap({**os.environ, **env}, TENANT, EMAIL, PASSWORD)
            page = await _page(browser, up.url)
            dialog = page.get_by_role("dialog", name="Sign in to chatstream")
            await expect(dialog).to_be_visible()
            await dialog.get_by_label("Email").fill(EMAIL)
            await shot(page, "account-sign-in")
            await dialog.get_by_label("Password").fill(PASSWORD)
            await dialog.get_by_role("button", name="Sign in").click()
            await expect(page.locator("#app")).to_have_attribute("data-ready", "true")

            await wait_finished(await send(page, "The harbour opens at seven and the ferry "
                                                 "leaves at nine."))
            await page.get_by_role("button", name="Share").click()
            link = page.get_by_label("Public link")
            await expect(link).to_have_value(re.compile(r"/#/s/"))
            shared = await link.input_value()
            await shot(page, "account-share")
            await page.keyboard.press("Escape")

            await page.get_by_role("button", name="Usage and keys").click()
            await page.get_by_role("dialog", name="Usage and API keys").get_by_label(
                "Name").fill("laptop")
            await page.get_by_role("button", name="Create key").click()
            await expect(page.locator("#key-secret code")).to_be_visible()
            await shot(page, "account-usage-keys")
            await page.keyboard.press("Escape")

            await page.get_by_role("button", name="Batches").click()
            batches = page.get_by_role("dialog", name="Batches")
            await batches.get_by_label("Prompts, one per line").fill(
                "When does the harbour open?\nWhen does the ferry leave?\n"
                "Summarise the timetable.")
            await batches.get_by_role("button", name="Submit batch").click()
            await expect(batches.locator("li.batch")).to_have_attribute(
                "data-status", "completed", timeout=90_000)
            await shot(page, "account-batches")
            await page.keyboard.press("Escape")

            await page.get_by_role("button", name="Status").click()
            await expect(page.locator("#status-table tbody tr[data-stage=inference]")
                         ).to_be_attached()
            await page.wait_for_timeout(2500)  # a second reading: events per second shown
            await shot(page, "account-status")

            reader = await _page(browser, up.url)
            await reader.goto(shared)
            await expect(reader.locator("#readonly")).to_be_visible()
            await shot(reader, "account-shared-read-only")
        finally:
            up.stop()
    return written
