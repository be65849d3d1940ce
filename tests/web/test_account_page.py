"""The page with accounts (AUTH=jwt) in a real browser against a real ``chatstream up``:
sign-in, chat over an authenticated stream, sharing with a public read-only link opened in
a fresh anonymous context, bookmarks, batches with progress, usage and a 429, API keys,
the admins' status view, and a reused refresh token that signs the user out."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.support.stacks import Stack, start_stack
from tests.tenancy.support import JWT_ENV, bootstrap, login
from tests.web.chat import answers, conversation_id, send, wait_finished
from tests.web.conftest import DESKTOP, _page

PASSWORD = "correct horse battery"


# The tenant that operates the deployment: its admins see the pipeline's status.
OPERATOR = f"ops{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack("embedded", tmp_path_factory.mktemp("web-jwt"),
                    {**JWT_ENV, "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "5",
                     "CHATSTREAM_OPERATOR_TENANT": OPERATOR})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def user(jwt_stack: Stack) -> tuple[str, str]:
    """The operator tenant's owner, shared by this module's tests: (tenant, email). On
    the "pro" plan: the status test's burst (a conversation and 12 messages) comes on
    top of the other tests' requests in the same minute, past the free plan's 20."""
    tenant = OPERATOR
    email = f"owner@{tenant}.example"
    bootstrap(jwt_stack.env_for_cli(), tenant, email, PASSWORD, plan="pro")
    return tenant, email


@pytest.fixture(scope="module")
def tiny_user(jwt_stack: Stack) -> str:
    """The owner of a tenant on the "tiny" plan (2 messages a month): its email."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    email = f"tiny@{tenant}.example"
    bootstrap(jwt_stack.env_for_cli(), tenant, email, PASSWORD, plan="tiny")
    return email


@pytest.fixture
async def jpage(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path,
                jwt_stack: Stack) -> AsyncIterator[Page]:
    async for p in _page(browser, request, tmp_path, jwt_stack, viewport=DESKTOP):
        yield p


async def sign_in(page: Page, url: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{url}/")
    dialog = page.get_by_role("dialog", name="Sign in to chatstream")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Email").fill(email)
    await dialog.get_by_label("Password").fill(password)
    await dialog.get_by_role("button", name="Sign in").click()


async def signed_in(page: Page, url: str, email: str) -> None:
    await sign_in(page, url, email)
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true")
    await expect(page.locator("#who-text")).to_contain_text(email)


async def test_sign_in_refuses_a_wrong_password_then_chats_over_an_authenticated_stream(
        jpage: Page, jwt_stack: Stack, user: tuple[str, str]) -> None:
    tenant, email = user
    await sign_in(jpage, jwt_stack.url, email, "not the password")
    await expect(jpage.locator("#signin-error")).to_have_text("Wrong email or password.")
    await jpage.get_by_label("Password").fill(PASSWORD)
    await jpage.get_by_role("button", name="Sign in").click()
    await expect(jpage.locator("#who-text")).to_contain_text(f"{email} · {tenant} (owner)")
    answer = await send(jpage, "My favourite colour is teal.")
    await wait_finished(answer)
    assert "teal" in (await answer.inner_text())
    # The access token lives in memory only: the tab keeps its refresh token and email.
    saved = json.loads(await jpage.evaluate("sessionStorage.getItem('chatstream.session')"))
    assert set(saved) == {"refresh", "email"}
    assert await jpage.evaluate("localStorage.getItem('chatstream.session')") is None


async def test_sign_out_ends_the_session_and_returns_to_the_sign_in_form(
        jpage: Page, jwt_stack: Stack, user: tuple[str, str]) -> None:
    await signed_in(jpage, jwt_stack.url, user[1])
    saved = json.loads(await jpage.evaluate("sessionStorage.getItem('chatstream.session')"))
    await jpage.get_by_role("button", name="Sign out").click()
    await expect(jpage.get_by_role("dialog", name="Sign in to chatstream")).to_be_visible()
    await expect(jpage.locator("#conversations li")).to_have_count(0)
    # Signed out on the server too: a copy of the tab's refresh token is worth nothing.
    async with httpx.AsyncClient(base_url=jwt_stack.url, timeout=30) as c:
        r = await c.post("/v1/auth/refresh", json={"refresh_token": saved["refresh"]})
        assert r.status_code == 401, r.text


async def test_an_email_of_two_organisations_signs_in_to_the_one_named(
        jpage: Page, jwt_stack: Stack) -> None:
    email = f"both-{uuid.uuid4().hex[:6]}@example.org"
    tenants = [f"t{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for tenant in tenants:
        bootstrap(jwt_stack.env_for_cli(), tenant, email, PASSWORD)
    await sign_in(jpage, jwt_stack.url, email)
    await expect(jpage.locator("#signin-error")).to_contain_text("several organisations")
    await jpage.get_by_label("Organisation").fill(tenants[1])
    await jpage.get_by_role("button", name="Sign in").click()
    await expect(jpage.locator("#app")).to_have_attribute("data-ready", "true")
    await expect(jpage.locator("#who-text")).to_contain_text(tenants[1])


async def test_whoever_signs_in_next_starts_on_a_new_chat_with_the_box_focused(
        jpage: Page, jwt_stack: Stack, user: tuple[str, str], tiny_user: str) -> None:
    await signed_in(jpage, jwt_stack.url, user[1])
    await wait_finished(await send(jpage, "The owner's private note."))
    theirs = conversation_id(jpage)
    await jpage.get_by_role("button", name="Sign out").click()
    dialog = jpage.get_by_role("dialog", name="Sign in to chatstream")
    await dialog.get_by_label("Email").fill(tiny_user)
    await dialog.get_by_label("Password").fill(PASSWORD)

    async def slowly(route: Route) -> None:  # the list takes a moment: time to type
        await asyncio.sleep(1.0)
        await route.continue_()

    await jpage.route("**/v1/conversations", slowly)
    await dialog.get_by_role("button", name="Sign in").click()
    await expect(dialog).to_be_hidden()
    await jpage.keyboard.type("Typed while the page loads")
    await expect(jpage.locator("#who-text")).to_contain_text(tiny_user)
    await expect(jpage).to_have_url(re.compile(r"#/$"))
    await expect(jpage.get_by_label("Message", exact=True)).to_have_value(
        "Typed while the page loads")
    await expect(jpage.locator("#notice")).not_to_contain_text("does not exist")
    await expect(jpage.locator(f"a[data-id='{theirs}']")).to_have_count(0)


async def test_a_reused_refresh_token_signs_the_user_out(jpage: Page, jwt_stack: Stack,
                                                         user: tuple[str, str]) -> None:
    await signed_in(jpage, jwt_stack.url, user[1])
    saved = json.loads(await jpage.evaluate("sessionStorage.getItem('chatstream.session')"))
    # A thief uses the tab's refresh token first; the tab's own use then comes second.
    async with httpx.AsyncClient(base_url=jwt_stack.url, timeout=30) as c:
        r = await c.post("/v1/auth/refresh", json={"refresh_token": saved["refresh"]})
        assert r.status_code == 200, r.text
    await jpage.reload()
    await expect(jpage.get_by_role("dialog", name="Sign in to chatstream")).to_be_visible()
    await expect(jpage.locator("#signin-error")).to_contain_text("sign in again")


async def test_share_opens_read_only_for_anyone_and_can_be_taken_down(
        jpage: Page, browser: Browser, jwt_stack: Stack, user: tuple[str, str]) -> None:
    await signed_in(jpage, jwt_stack.url, user[1])
    answer = await send(jpage, "The harbour opens at seven.")
    await wait_finished(answer)
    await jpage.get_by_role("button", name="Share").click()
    # The dialog opens once the edge has made the link.
    await expect(jpage.get_by_label("Public link")).to_have_value(re.compile(r"/#/s/"))
    link = await jpage.get_by_label("Public link").input_value()
    assert re.search(r"/#/s/[A-Za-z0-9_-]+$", link), link

    anonymous = await browser.new_context()
    try:
        reader = await anonymous.new_page()
        await reader.goto(link)
        await expect(reader.locator("#app")).to_have_attribute("data-ready", "true")
        await expect(reader.locator("#readonly")).to_be_visible()
        await expect(reader.locator("article.msg.user")).to_contain_text(
            "The harbour opens at seven.")
        await expect(reader.get_by_label("Message", exact=True)).to_be_hidden()
        await expect(reader.get_by_role("dialog", name="Sign in to chatstream")).to_be_hidden()

        await jpage.get_by_role("button", name="Stop sharing").click()
        await reader.reload()
        await expect(reader.locator("#notice")).to_contain_text("Nothing is shared")
    finally:
        await anonymous.close()


async def test_bookmarks_filter_the_sidebar(jpage: Page, jwt_stack: Stack,
                                            user: tuple[str, str]) -> None:
    await signed_in(jpage, jwt_stack.url, user[1])
    await wait_finished(await send(jpage, "First conversation about plums."))
    first = conversation_id(jpage)
    await jpage.get_by_role("button", name="New chat").click()
    await wait_finished(await send(jpage, "Second conversation about figs."))
    await jpage.goto(f"{jwt_stack.url}/#/c/{first}")
    bookmark = jpage.get_by_role("button", name="Bookmark")
    await bookmark.click()
    await expect(jpage.locator("#bookmark")).to_have_attribute("aria-pressed", "true")
    await jpage.get_by_label("Bookmarked only").check()
    items = jpage.locator("#conversations a")
    await expect(items).to_have_count(1)
    await expect(items.first).to_have_attribute("data-id", first)


async def test_a_batch_runs_to_completion_with_progress_and_its_results_download(
        jpage: Page, jwt_stack: Stack, user: tuple[str, str]) -> None:
    await signed_in(jpage, jwt_stack.url, user[1])
    await jpage.get_by_role("button", name="Batches").click()
    dialog = jpage.get_by_role("dialog", name="Batches")
    await dialog.get_by_label("Prompts, one per line").fill(
        "Plums are purple.\nFigs are sweet.\nLimes are green.")
    await dialog.get_by_role("button", name="Submit batch").click()
    row = dialog.locator("li.batch")
    await expect(row).to_have_count(1)
    bar = row.locator("progress")
    await expect(bar).to_have_attribute("max", "3")
    await expect(row).to_have_attribute("data-status", "completed", timeout=90_000)
    assert await bar.evaluate("b => b.value") == 3
    async with jpage.expect_download() as download:
        await row.get_by_role("button", name="Download results").click()
    text = await asyncio.to_thread((await (await download.value).path()).read_text)
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["prompt"] for line in lines] == [
        "Plums are purple.", "Figs are sweet.", "Limes are green."]


async def test_usage_counts_messages_and_a_429_says_which_limit_and_when(
        jpage: Page, jwt_stack: Stack, tiny_user: str) -> None:
    await signed_in(jpage, jwt_stack.url, tiny_user)
    # Another tenant's owner: the deployment's status is not theirs to see.
    await expect(jpage.get_by_role("button", name="Status")).to_be_hidden()
    tokens = await login(jwt_stack.url, tiny_user, PASSWORD)
    async with httpx.AsyncClient(base_url=jwt_stack.url, timeout=30) as c:
        r = await c.get("/v1/admin/status",
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert r.status_code == 403, r.text
    for text in ("One message.", "Two messages."):
        await wait_finished(await send(jpage, text))
    await jpage.get_by_label("Message", exact=True).fill("Three is over the plan.")
    await jpage.get_by_label("Message", exact=True).press("Enter")
    notice = jpage.locator("#notice")
    await expect(notice).to_contain_text("messages_per_month")
    await expect(notice).to_contain_text("It resets in")
    await jpage.get_by_role("button", name="Usage and keys").click()
    meter = jpage.locator("li.meter[data-limit=messages]")
    # A plan is the whole tenant's: the meter says so, beside the caller's own share.
    await expect(meter).to_contain_text("team 2 of 2 · you 2")
    await expect(jpage.locator("#usage-plan")).to_contain_text(
        re.compile(r"the use of everyone in t[0-9a-f]{8}, and yours"))


async def test_api_keys_are_shown_once_listed_and_revoked(jpage: Page, jwt_stack: Stack,
                                                          user: tuple[str, str]) -> None:
    await jpage.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                          origin=jwt_stack.url)
    await signed_in(jpage, jwt_stack.url, user[1])
    await jpage.get_by_role("button", name="Usage and keys").click()
    dialog = jpage.get_by_role("dialog", name="Usage and API keys")
    await dialog.get_by_label("Name").fill("laptop")
    await jpage.get_by_role("button", name="Create key").click()
    secret = jpage.locator("#key-secret code")
    await expect(secret).to_have_text(re.compile(r"^cs_[0-9a-f]{12}_"))
    key = await secret.inner_text()
    # A new key has a copy button.
    await dialog.get_by_role("button", name="Copy key").click()
    await expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    assert await jpage.evaluate("navigator.clipboard.readText()") == key
    async with httpx.AsyncClient(base_url=jwt_stack.url, timeout=30) as c:
        r = await c.get("/v1/conversations", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        prefix = key.split("_")[1]
        row = jpage.locator(f"li.key[data-prefix='{prefix}']")
        await expect(row).to_contain_text("laptop")
        # Revoking asks first: Cancel leaves the key working.
        confirm = jpage.get_by_role("dialog", name=re.compile("Revoke the key “laptop”"))
        await row.get_by_role("button", name=re.compile("Revoke")).click()
        await expect(confirm).to_be_visible()
        await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
        await confirm.get_by_role("button", name="Cancel").click()
        await expect(confirm).to_be_hidden()
        assert (await c.get("/v1/conversations", headers={
            "Authorization": f"Bearer {key}"})).status_code == 200
        await row.get_by_role("button", name=re.compile("Revoke")).click()
        await confirm.get_by_role("button", name="Revoke").click()
        await expect(row).to_have_attribute("data-revoked", "true")
        # The revoked key's secret is no longer on the screen.
        await expect(jpage.locator("#key-secret")).to_be_hidden()
        assert key not in await jpage.locator("#account").inner_text()
        await expect(row.get_by_role("button", name=re.compile("Revoke"))).to_have_count(0)
        r = await c.get("/v1/conversations", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401


async def test_the_status_view_shows_a_stage_lag_rise_and_fall(
        jpage: Page, jwt_stack: Stack, user: tuple[str, str]) -> None:
    await signed_in(jpage, jwt_stack.url, user[1])
    await jpage.get_by_role("button", name="Status").click()
    table = jpage.locator("#status-table tbody")
    await expect(table.locator("tr[data-stage=inference]")).to_be_attached()
    tokens = await login(jwt_stack.url, user[1], PASSWORD)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx.AsyncClient(base_url=jwt_stack.url, timeout=30, headers=headers) as c:
        r = await c.post("/v1/conversations", json={"title": "load"})
        cid = r.json()["id"]
        long = " ".join(f"word{i}" for i in range(300))

        async def post() -> None:
            r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": long})
            assert r.status_code == 202, r.text

        await asyncio.gather(*(post() for _ in range(12)))
    behind = table.locator("tr.behind")
    await expect(behind.first).to_be_attached(timeout=30_000)
    await expect(behind).to_have_count(0, timeout=120_000)
    assert await answers(jpage).count() == 0
