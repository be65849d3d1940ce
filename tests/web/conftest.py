"""Browser tests of the chat page: Debian's Chromium, headless, against a real
``chatstream up`` whose offline model is slowed so a test can act mid-answer.

A test that fails leaves ``failure.png`` (and the page's HTML) in its own tmp directory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.browser import launch
from tests.support.stacks import Stack, start_stack

# 60 ms a word: a few seconds per answer, time enough to reload or stop mid-answer.
MODEL_DELAY_MS = "60"
DESKTOP = {"width": 1280, "height": 800}

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack("embedded", tmp_path_factory.mktemp("web"),
                    {"CHATSTREAM_LOCAL_MODEL_DELAY_MS": MODEL_DELAY_MS})
    yield s
    s.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    # Roomy waits for DOM states: the machine may be busy with other suites.
    expect.set_options(timeout=20_000)
    async with async_playwright() as playwright:
        b = await launch(playwright)
        yield b
        await b.close()


@pytest.fixture
def tenant() -> str:
    """A tenant of the test's own (dev mode's X-Dev-Tenant, sent by the page and the API
    client alike): what one test uploads, remembers or lists is not another's."""
    return f"web-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def api(web_stack: Stack, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=30,
                                 headers={"X-Dev-Tenant": tenant}) as c:
        yield c


async def _page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path,
                stack: Stack, **context: object) -> AsyncIterator[Page]:
    ctx = await browser.new_context(**context)  # type: ignore[arg-type]
    ctx.set_default_timeout(30_000)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            await page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            (tmp_path / "failure.html").write_text(await page.content())
            (tmp_path / "stack.log").write_text(stack.logs())
            print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        else:
            # An exception thrown by the page's own scripts fails the test that caused it.
            assert not errors, f"the page threw: {errors}"
    finally:
        await ctx.close()


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path,
               web_stack: Stack, tenant: str) -> AsyncIterator[Page]:
    async for p in _page(browser, request, tmp_path, web_stack, viewport=DESKTOP,
                         extra_http_headers={"X-Dev-Tenant": tenant}):
        yield p


@pytest.fixture
async def phone(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path,
                web_stack: Stack, tenant: str) -> AsyncIterator[Page]:
    async for p in _page(browser, request, tmp_path, web_stack,
                         extra_http_headers={"X-Dev-Tenant": tenant}, **PHONE):
        yield p


@pytest.fixture(params=["desktop", "phone"])
async def device(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path,
                 web_stack: Stack, tenant: str) -> AsyncIterator[Page]:
    """The page on a desktop, then on a phone (a test that runs on both)."""
    options: dict[str, object] = {"viewport": DESKTOP} if request.param == "desktop" \
        else dict(PHONE)
    async for p in _page(browser, request, tmp_path, web_stack,
                         extra_http_headers={"X-Dev-Tenant": tenant}, **options):
        yield p


def on_phone(page: Page) -> bool:
    size = page.viewport_size
    return size is not None and size["width"] < 760
