"""The URL fetcher is an SSRF boundary: each rule with the attack it stops, against a
real web server on loopback (reachable only where a test relaxes the loopback rule,
which is the one thing any setting relaxes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from agents.ingestion.fetch import FetchError, FetchLimits, allowed, fetch
from harness.fake_site import FakeSite, Page
from kernel.settings import Settings

LOOPBACK_OK = FetchLimits(allow_loopback=True, timeout_s=5)
HTML = b"<html><head><title>T</title></head><body><p>Hello</p></body></html>"


@pytest.fixture
async def site() -> AsyncIterator[FakeSite]:
    s = FakeSite()
    await s.start()
    s.pages["/"] = Page(HTML)
    yield s
    await s.stop()


async def _refused(url: str, limits: FetchLimits = LOOPBACK_OK, **kw: object) -> str:
    with pytest.raises(FetchError) as caught:
        await fetch(url, limits, **kw)  # type: ignore[arg-type]
    return str(caught.value)


async def test_a_page_is_fetched_when_every_rule_holds(site: FakeSite) -> None:
    got = await fetch(f"{site.url}/", LOOPBACK_OK)
    assert got.data == HTML and got.media_type == "text/html"
    assert got.url == f"{site.url}/"


def test_loopback_is_refused_unless_a_test_setting_allows_it() -> None:
    assert Settings().url_fetch_allow_loopback is False


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://127.1:{port}/",
    "http://0.0.0.0:{port}/", "http://[::1]:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
    "http://2130706433:{port}/", "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
])
async def test_loopback_in_any_spelling_is_refused_and_never_reached(
        site: FakeSite, url: str) -> None:
    message = await _refused(url.format(port=site.port), FetchLimits(timeout_s=5))
    assert "internal address" in message or "resolve" in message
    assert site.seen == []


@pytest.mark.parametrize("address", [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "224.0.0.1", "[fd00:ec2::254]", "[fe80::1]", "[::ffff:169.254.169.254]",
    "[2002:a9fe:a9fe::1]",  # 6to4 wrapping 169.254.169.254
    # 169.254.169.254 through NAT64 (RFC 6052, and RFC 8215's local-use prefix), as
    # IPv4-translated (SIIT) and IPv4-compatible forms
    "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::a9fe:a9fe]", "[::ffff:0:a9fe:a9fe]",
    "[::a9fe:a9fe]",
])
async def test_internal_and_metadata_addresses_are_refused_before_connecting(
        address: str) -> None:
    # Refused by the address check itself: nothing is sent to these (not even with the
    # loopback rule relaxed), so the test never touches a network beyond this machine.
    message = await _refused(f"http://{address}/latest/meta-data/")
    assert "internal address" in message


async def test_a_name_is_checked_on_every_address_and_connected_to_as_checked(
        site: FakeSite) -> None:
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        # First answer: loopback (allowed here); any later lookup would say metadata.
        return ["127.0.0.1"] if len(asked) == 1 else ["169.254.169.254"]

    got = await fetch(f"http://pages.example:{site.port}/", LOOPBACK_OK, resolve=rebinding)
    assert got.data == HTML
    # Resolved once, connected to that very address, the name kept in Host.
    assert asked == ["pages.example"]
    assert site.seen[-1].headers["host"] == f"pages.example:{site.port}"

    async def mixed(host: str, port: int) -> Sequence[str]:
        return ["93.184.215.14", "10.0.0.7"]  # one public, one private: refused

    assert "internal address" in await _refused("http://mixed.example/", resolve=mixed)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/", "dict://x/",
    "javascript:alert(1)", "http:///nohost", "http://user:secret@127.0.0.1/",
    "http://:pw@127.0.0.1/", "http://" + "a" * 2100 + ".com/",
])
async def test_only_plain_http_urls_without_credentials_are_fetched(url: str) -> None:
    await _refused(url)


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "file:///etc/passwd",
    "http://user:pw@127.0.0.1/",
])
async def test_every_redirect_is_checked_again(site: FakeSite, target: str) -> None:
    site.pages["/go"] = Page.redirect(target)
    await _refused(f"{site.url}/go")
    assert [s.path for s in site.seen] == ["/go"]


async def test_redirects_are_limited_and_carry_no_cookie(site: FakeSite) -> None:
    site.pages["/a"] = Page.redirect("/b", set_cookie="session=stolen; Path=/")
    site.pages["/b"] = Page(HTML)
    got = await fetch(f"{site.url}/a", LOOPBACK_OK)
    assert got.url == f"{site.url}/b" and got.data == HTML
    for seen in site.seen:
        assert not {"cookie", "authorization", "proxy-authorization"} & set(seen.headers)
    site.pages["/loop"] = Page.redirect("/loop")
    assert "redirects" in await _refused(f"{site.url}/loop")
    assert len([s for s in site.seen if s.path == "/loop"]) == LOOPBACK_OK.max_redirects + 1


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_refused(site: FakeSite, chunked: bool) -> None:
    site.pages["/big"] = Page(b"x" * 300_000, content_type="text/plain", pieces=10,
                              chunked=chunked)
    message = await _refused(f"{site.url}/big", FetchLimits(
        allow_loopback=True, max_bytes=100_000, timeout_s=5))
    assert "over the limit" in message


async def test_a_slow_page_is_given_up_in_time(site: FakeSite) -> None:
    site.pages["/slow"] = Page(b"x" * 50, content_type="text/plain", pieces=50, pause_s=0.2)
    site.pages["/silent"] = Page(HTML, first_byte_delay_s=30)
    started = time.monotonic()
    for path in ("/slow", "/silent"):
        assert "longer than" in await _refused(f"{site.url}{path}", FetchLimits(
            allow_loopback=True, timeout_s=1.0))
    assert time.monotonic() - started < 6


@pytest.mark.parametrize(("content_type", "extra"), [
    ("image/png", ()), ("application/octet-stream", ()), (None, ()),
    ("application/x-sh", ()), ("text/html", (("Content-Encoding", "gzip"),)),
])
async def test_only_allowed_content_types_are_read(
        site: FakeSite, content_type: str | None, extra: tuple[tuple[str, str], ...]) -> None:
    site.pages["/thing"] = Page(b"\x89PNG....", content_type=content_type, headers=extra)
    await _refused(f"{site.url}/thing")


def test_the_address_rule_itself() -> None:
    import ipaddress

    assert allowed(ipaddress.ip_address("93.184.215.14"))
    assert not allowed(ipaddress.ip_address("127.0.0.1"))
    assert allowed(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert not allowed(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)
    assert not allowed(ipaddress.ip_address("::ffff:10.0.0.1"), allow_loopback=True)
    # A public address through NAT64 is as public as the address itself.
    assert allowed(ipaddress.ip_address("64:ff9b::5db8:d70e"))
    # ::1 is IPv6's own loopback (not the IPv4-compatible 0.0.0.1), :: is refused.
    assert allowed(ipaddress.ip_address("::1"), allow_loopback=True)
    assert not allowed(ipaddress.ip_address("::1"))
    assert not allowed(ipaddress.ip_address("::"), allow_loopback=True)


async def test_fetches_run_side_by_side(site: FakeSite) -> None:
    got = await asyncio.gather(*(fetch(f"{site.url}/", LOOPBACK_OK) for _ in range(5)))
    assert {g.data for g in got} == {HTML}
