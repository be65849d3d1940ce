"""#17.6 login, #17.11 share links, #17.5 analytics: attacks on a real AUTH=jwt edge.

The edge trusts X-Forwarded-For from loopback only (TRUSTED_PROXIES=["127.0.0.1"]): the
tests play the proxy, so each "client" has an address of its own."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from starlette.requests import Request

from api.guards.clients import client_address, networks
from tests.security.support import METRICS_TOKEN, PASSWORD, Edge


async def _login(c: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await c.post("/v1/auth/token", json={"email": email, "password": password})


async def test_guessing_from_one_address_is_429_with_retry_after(jwt_edge: Edge) -> None:
    statuses = []
    async with jwt_edge.client() as c:  # one address, many emails
        for i in range(20):
            r = await _login(c, f"guess{i}@nowhere.io", "wrong")
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
    assert statuses[-1] == 429, statuses
    # At most two minute windows' worth (8 each) got through.
    assert statuses.count(401) <= 16, statuses
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # Another address is not affected: the limit is on the client, not on the proxy.
    async with jwt_edge.client() as other:
        assert (await _login(other, "owner@beta.io", PASSWORD)).status_code == 200


async def test_guessing_one_email_from_many_addresses_is_429(jwt_edge: Edge) -> None:
    victim = f"victim-{uuid.uuid4().hex[:6]}@acme.io"
    await jwt_edge.member(victim)
    statuses = []
    for _ in range(12):
        async with jwt_edge.client() as c:  # a fresh address each time
            r = await _login(c, victim, "not-the-password")
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
    assert statuses[-1] == 429, statuses
    assert statuses.count(401) <= 10  # 5 per 15-minute window
    assert int(r.headers["retry-after"]) <= 900
    # Even the right password waits now: the guesser cannot tell it was right.
    async with jwt_edge.client() as c:
        r = await _login(c, victim, PASSWORD)
        assert r.status_code == 429
        assert "access_token" not in r.text


async def test_a_login_flood_is_refused_not_queued_without_bound(jwt_edge: Edge) -> None:
    """Each attempt costs 64 MiB of argon2: beyond 2 hashing and 4 waiting, 503 at once."""
    async def one() -> httpx.Response:
        async with jwt_edge.client() as c:
            return await _login(c, f"flood-{uuid.uuid4().hex[:6]}@nowhere.io", "x")

    answers = await asyncio.gather(*(one() for _ in range(30)))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {401, 503}, statuses
    busy = [r for r in answers if r.status_code == 503]
    assert busy, statuses
    assert busy[0].json()["error"]["code"] == "busy"
    assert busy[0].headers["retry-after"]
    async with jwt_edge.client() as c:
        assert (await _login(c, "owner@beta.io", PASSWORD)).status_code == 200


async def test_a_reused_refresh_token_revokes_its_whole_family(jwt_edge: Edge) -> None:
    async with jwt_edge.client() as c:
        first = (await _login(c, "owner@beta.io", PASSWORD)).json()["refresh_token"]
        r = await c.post("/v1/auth/refresh", json={"refresh_token": first})
        assert r.status_code == 200
        second = r.json()["refresh_token"]  # the legitimate client's (or the thief's) next
        r = await c.post("/v1/auth/refresh", json={"refresh_token": first})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "refresh_reused"
        r = await c.post("/v1/auth/refresh", json={"refresh_token": second})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "refresh_revoked"
        assert "access_token" not in r.text
        # Another login is a family of its own.
        other = (await _login(c, "owner@beta.io", PASSWORD)).json()["refresh_token"]
        assert (await c.post("/v1/auth/refresh",
                             json={"refresh_token": other})).status_code == 200


async def test_a_link_taken_down_stays_dead_when_shared_again(jwt_edge: Edge) -> None:
    await jwt_edge.login("owner@acme.io")
    async with jwt_edge.client("owner@acme.io") as c:
        cid = (await c.post("/v1/conversations", json={"title": "secret plans"})).json()["id"]
        first = (await c.patch(f"/v1/conversations/{cid}/share", json={"public": True})).json()
        again = (await c.patch(f"/v1/conversations/{cid}/share", json={"public": True})).json()
        assert again["url"] == first["url"]  # sharing twice keeps one link
        await c.patch(f"/v1/conversations/{cid}/share", json={"public": False})
        second = (await c.patch(f"/v1/conversations/{cid}/share",
                                json={"public": True})).json()
    assert second["url"] != first["url"]
    async with jwt_edge.client() as anyone:
        r = await anyone.get(first["url"])
        assert r.status_code == 404
        assert "secret plans" not in r.text
        assert (await anyone.get(second["url"])).status_code == 200


async def test_the_public_limit_keys_on_the_client_not_the_proxy(jwt_edge: Edge) -> None:
    await jwt_edge.login("owner@acme.io")
    async with jwt_edge.client("owner@acme.io") as c:
        cid = (await c.post("/v1/conversations", json={})).json()["id"]
        url = (await c.patch(f"/v1/conversations/{cid}/share", json={})).json()["url"]
    statuses = []
    async with jwt_edge.client() as scraper:
        for _ in range(12):
            statuses.append((r := await scraper.get(url)).status_code)
            if r.status_code == 429:
                break
    assert statuses[-1] == 429, statuses
    assert r.headers["retry-after"]
    # A reader at another address behind the same proxy still reads.
    async with jwt_edge.client() as reader:
        assert (await reader.get(url)).status_code == 200


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = networks(["10.0.0.0/8"])
    # Straight from the internet: the header is the client's own claim, ignored.
    assert client_address(_request("203.0.113.9", "1.2.3.4"), proxies) == "203.0.113.9"
    # Through the proxy: the hop the proxy saw, not what the client prepended.
    assert client_address(_request("10.0.0.5", "1.2.3.4, 203.0.113.9"),
                          proxies) == "203.0.113.9"
    assert client_address(_request("10.0.0.5", "203.0.113.9, 10.0.0.7"),
                          proxies) == "203.0.113.9"
    assert client_address(_request("10.0.0.5", "garbage"), proxies) == "10.0.0.5"
    assert client_address(_request("10.0.0.5", "1.2.3.4"), ()) == "10.0.0.5"


async def test_a_tenant_admin_sees_only_its_tenants_analytics(jwt_edge: Edge) -> None:
    for owner in ("owner@acme.io", "owner@beta.io"):
        await jwt_edge.login(owner)
        async with jwt_edge.client(owner) as c:
            cid = (await c.post("/v1/conversations", json={})).json()["id"]
            r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "hello"})
            assert r.status_code == 202, r.text
    async with jwt_edge.client(Authorization=f"Bearer {METRICS_TOKEN}") as operator:
        for _ in range(240):
            every = (await operator.get("/v1/analytics/metrics")).text
            if 'tenant="acme"' in every and 'tenant="beta"' in every:
                break
            await asyncio.sleep(0.5)
        assert 'tenant="acme"' in every and 'tenant="beta"' in every, every
    async with jwt_edge.client("owner@acme.io") as acme:
        r = await acme.get("/v1/analytics/metrics")
        assert r.status_code == 200
        assert 'tenant="acme"' in r.text
        assert 'tenant="beta"' not in r.text
    member = await jwt_edge.member(f"m-{uuid.uuid4().hex[:6]}@acme.io")
    async with jwt_edge.client(Authorization=f"Bearer {member}") as c:
        assert (await c.get("/v1/analytics/metrics")).status_code == 403
    async with jwt_edge.client() as anonymous:
        r = await anonymous.get("/v1/analytics/metrics")
        assert r.status_code == 401
        assert "tenant=" not in r.text
