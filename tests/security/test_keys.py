"""#26 row 13: API keys have scopes and an optional expiry; a key never mints keys nor
changes accounts, so revoking a leaked key ends everything it could do, its open
streams included."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.security.support import Edge


async def _key(edge: Edge, owner: str, **body: object) -> dict[str, object]:
    async with edge.client(owner) as c:
        r = await c.post("/v1/keys", json=body)
        assert r.status_code == 201, r.text
        made: dict[str, object] = r.json()
        return made


def _as(edge: Edge, key: object) -> httpx.AsyncClient:
    return edge.client(Authorization=f"Bearer {key}")


async def test_a_key_cannot_mint_keys_or_change_accounts(jwt_edge: Edge) -> None:
    """Even an owner's key with every scope: a leaked key cannot outlive its revocation
    through a key, a user, a password or a public link it made."""
    owner = await jwt_edge.tenant("pro")
    key = (await _key(jwt_edge, owner, name="leaked"))["key"]
    async with _as(jwt_edge, key) as c:
        cid = (await c.post("/v1/conversations", json={})).json()["id"]
        refused = [
            await c.post("/v1/keys", json={"name": "mine now"}),
            await c.get("/v1/keys"),
            await c.post("/v1/admin/users", json={"email": "x@evil.io", "password": "p" * 10}),
            await c.put("/v1/admin/plan", json={"plan": "free"}),
            await c.put("/v1/me/password", json={"current_password": "x",
                                                 "new_password": "y" * 10}),
            await c.post("/v1/auth/logout"),
            await c.patch(f"/v1/conversations/{cid}/share", json={"public": True}),
        ]
        for r in refused:
            assert r.status_code == 403, (r.request.url, r.text)
            assert r.json()["error"]["code"] == "key_not_allowed"
        assert (await c.get("/v1/me")).status_code == 200
        other = await _key(jwt_edge, owner, name="other")
        r = await c.delete(f"/v1/keys/{other['prefix']}")
        assert r.status_code == 403, "a key revokes itself, and no other key"
    async with jwt_edge.client(owner) as c:
        assert [k["name"] for k in (await c.get("/v1/keys")).json()["data"]] == ["leaked",
                                                                                 "other"]


async def test_a_key_does_only_what_its_scopes_say(jwt_edge: Edge) -> None:
    owner = await jwt_edge.tenant("pro")
    made = await _key(jwt_edge, owner, name="search", scopes=["embeddings"])
    assert made["scopes"] == ["embeddings"]
    async with _as(jwt_edge, made["key"]) as c:
        r = await c.post("/v1/conversations", json={})
        assert r.status_code == 403
        assert "'chat'" in r.json()["error"]["message"]
        assert (await c.get("/v1/usage")).status_code == 403
        assert (await c.get("/v1/batches/nope")).status_code == 403
        assert (await c.get("/v1/models")).status_code == 200
        model = (await c.post("/v1/embeddings", json={"model": "unknown", "input": "x"})
                 ).json()["error"]["message"].split("`")[3]
        r = await c.post("/v1/embeddings", json={"model": model, "input": "hello"})
        assert r.status_code == 200, r.text
    async with jwt_edge.client(owner) as c:
        r = await c.post("/v1/keys", json={"scopes": ["admin"]})
        assert r.status_code == 422, "no scope reaches what keys may never do"


async def test_a_key_expires(jwt_edge: Edge) -> None:
    owner = await jwt_edge.tenant("pro")
    soon = datetime.now(UTC) + timedelta(seconds=3)
    made = await _key(jwt_edge, owner, name="short", expires_at=soon.isoformat())
    async with _as(jwt_edge, made["key"]) as c:
        assert (await c.get("/v1/conversations")).status_code == 200
        await asyncio.sleep(max(0.0, soon.timestamp() - time.time()) + 0.5)
        r = await c.get("/v1/conversations")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "key_expired"
    async with jwt_edge.client(owner) as c:
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        assert (await c.post("/v1/keys", json={"expires_at": past})).status_code == 422


async def test_revoking_a_key_ends_its_open_stream(slow_edge: Edge) -> None:
    owner = await slow_edge.tenant("pro")
    made = await _key(slow_edge, owner, name="ci")
    received: list[str] = []
    async with _as(slow_edge, made["key"]) as c, c.stream(
            "POST", "/v1/chat/completions", json={
                "model": "extractive", "stream": True,
                "messages": [{"role": "user", "content": "Tell me a very long story."}]}) as r:
        assert r.status_code == 200
        lines = r.aiter_lines()
        received.append(await anext(lines))
        async with slow_edge.client(owner) as admin:
            assert (await admin.delete(f"/v1/keys/{made['prefix']}")).status_code == 204
        revoked_at = time.monotonic()
        try:
            async for line in lines:
                received.append(line)
        except httpx.HTTPError:
            pass
        cut_after = time.monotonic() - revoked_at
    assert "data: [DONE]" not in received, "the answer was streamed to its end"
    assert cut_after < 12, cut_after
    async with _as(slow_edge, made["key"]) as c:
        r = await c.get("/v1/me")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "key_revoked"
