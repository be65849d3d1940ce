"""#26, sessions: a logout, ending a user's sessions, removing a user and changing a
user's role or password each end what they should (at once on the edge that did it;
within SESSION_CHECK_S on the others: tests/tenancy/test_two_edges.py), open streams
included; tokens carry and check their audience and issuer; a guessable JWT secret
keeps the edge from starting."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.security.support import PASSWORD, Edge, edge_env
from tests.tenancy.support import SECRET


async def _sign_in(edge: Edge, email: str, password: str = PASSWORD) -> dict[str, Any]:
    async with edge.client() as c:
        r = await c.post("/v1/auth/token", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        pair: dict[str, Any] = r.json()
        return pair


async def _me(edge: Edge, token: str) -> httpx.Response:
    async with edge.client(Authorization=f"Bearer {token}") as c:
        return await c.get("/v1/me")


async def _refresh(edge: Edge, refresh_token: str) -> httpx.Response:
    async with edge.client() as c:
        return await c.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


async def _member(edge: Edge) -> tuple[str, str]:
    """A new member of acme: email and user id."""
    email = f"m-{uuid.uuid4().hex[:6]}@acme.io"
    await edge.member(email)
    async with edge.client(email) as c:
        return email, (await c.get("/v1/me")).json()["user_id"]


async def test_a_logout_ends_its_session_and_no_other(jwt_edge: Edge) -> None:
    email, _ = await _member(jwt_edge)
    here, there = await _sign_in(jwt_edge, email), await _sign_in(jwt_edge, email)
    async with jwt_edge.client(Authorization=f"Bearer {here['access_token']}") as c:
        assert (await c.post("/v1/auth/logout")).status_code == 204
    gone = await _me(jwt_edge, here["access_token"])
    assert gone.status_code == 401
    assert gone.json()["error"]["code"] == "session_ended"
    refreshed = await _refresh(jwt_edge, here["refresh_token"])
    assert refreshed.status_code == 401
    assert "access_token" not in refreshed.text
    assert (await _me(jwt_edge, there["access_token"])).status_code == 200
    assert (await _refresh(jwt_edge, there["refresh_token"])).status_code == 200


async def test_a_logout_everywhere_ends_every_session(jwt_edge: Edge) -> None:
    email, _ = await _member(jwt_edge)
    first, second = await _sign_in(jwt_edge, email), await _sign_in(jwt_edge, email)
    async with jwt_edge.client(Authorization=f"Bearer {first['access_token']}") as c:
        r = await c.post("/v1/auth/logout", json={"everywhere": True})
        assert r.status_code == 204
    for pair in (first, second):
        assert (await _me(jwt_edge, pair["access_token"])).status_code == 401
        assert (await _refresh(jwt_edge, pair["refresh_token"])).status_code == 401
    assert (await _me(jwt_edge, (await _sign_in(jwt_edge, email))["access_token"])
            ).status_code == 200, "signing in again starts a new session"


async def test_an_admin_ends_a_members_sessions(jwt_edge: Edge) -> None:
    email, uid = await _member(jwt_edge)
    pair = await _sign_in(jwt_edge, email)
    async with jwt_edge.client("owner@acme.io") as owner:
        assert (await owner.delete(f"/v1/admin/users/{uid}/sessions")).status_code == 204
    assert (await _me(jwt_edge, pair["access_token"])).status_code == 401
    assert (await _refresh(jwt_edge, pair["refresh_token"])).status_code == 401
    # Another tenant's admin cannot even see the user.
    await jwt_edge.login("owner@beta.io")
    async with jwt_edge.client("owner@beta.io") as beta:
        assert (await beta.delete(f"/v1/admin/users/{uid}/sessions")).status_code == 404
        assert (await beta.delete(f"/v1/admin/users/{uid}")).status_code == 404


async def test_a_role_change_ends_the_sessions_that_carried_the_old_role(
        jwt_edge: Edge) -> None:
    email, uid = await _member(jwt_edge)
    pair = await _sign_in(jwt_edge, email)
    async with jwt_edge.client("owner@acme.io") as owner:
        r = await owner.patch(f"/v1/admin/users/{uid}", json={"role": "admin"})
        assert r.status_code == 200, r.text
        assert r.json()["role"] == "admin"
    assert (await _me(jwt_edge, pair["access_token"])).status_code == 401
    again = await _sign_in(jwt_edge, email)
    assert (await _me(jwt_edge, again["access_token"])).json()["role"] == "admin"
    # And back: the admin's token is dead the moment it is a member again.
    async with jwt_edge.client("owner@acme.io") as owner:
        r = await owner.patch(f"/v1/admin/users/{uid}", json={"role": "member"})
        assert r.status_code == 200
    async with jwt_edge.client(Authorization=f"Bearer {again['access_token']}") as c:
        r = await c.post("/v1/admin/users", json={"email": "x@acme.io", "password": "p" * 9})
        assert r.status_code == 401, "a demoted admin's token creates no users"


async def test_a_password_set_by_an_admin_ends_the_sessions(jwt_edge: Edge) -> None:
    email, uid = await _member(jwt_edge)
    pair = await _sign_in(jwt_edge, email)
    async with jwt_edge.client("owner@acme.io") as owner:
        r = await owner.patch(f"/v1/admin/users/{uid}",
                              json={"password": "a-new-password-3318"})
        assert r.status_code == 200, r.text
    assert (await _me(jwt_edge, pair["access_token"])).status_code == 401
    async with jwt_edge.client() as c:
        old = await c.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
    await _sign_in(jwt_edge, email, "a-new-password-3318")


async def test_changing_ones_own_password(jwt_edge: Edge) -> None:
    email, _ = await _member(jwt_edge)
    elsewhere, here = await _sign_in(jwt_edge, email), await _sign_in(jwt_edge, email)
    async with jwt_edge.client(Authorization=f"Bearer {here['access_token']}") as c:
        wrong = await c.put("/v1/me/password", json={"current_password": "guess",
                                                     "new_password": "n" * 12})
        assert wrong.status_code == 401
        r = await c.put("/v1/me/password", json={"current_password": PASSWORD,
                                                 "new_password": "my-new-password-51"})
        assert r.status_code == 200, r.text
    fresh = r.json()
    for pair in (elsewhere, here):
        assert (await _me(jwt_edge, pair["access_token"])).status_code == 401
    assert (await _me(jwt_edge, fresh["access_token"])).status_code == 200
    assert (await _refresh(jwt_edge, fresh["refresh_token"])).status_code == 200
    await _sign_in(jwt_edge, email, "my-new-password-51")


async def test_a_removed_user_and_their_keys_stop_at_once(jwt_edge: Edge) -> None:
    email, uid = await _member(jwt_edge)
    pair = await _sign_in(jwt_edge, email)
    async with jwt_edge.client(Authorization=f"Bearer {pair['access_token']}") as c:
        key = (await c.post("/v1/keys", json={"name": "ci"})).json()["key"]
    async with jwt_edge.client("owner@acme.io") as owner:
        assert (await owner.delete(f"/v1/admin/users/{uid}")).status_code == 204
        assert uid not in {u["id"] for u in (await owner.get("/v1/admin/users")).json()["data"]}
    assert (await _me(jwt_edge, pair["access_token"])).status_code == 401
    assert (await _me(jwt_edge, key)).status_code == 401
    async with jwt_edge.client() as c:
        r = await c.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert r.status_code == 401


async def test_admins_manage_members_only_and_nobody_themselves(jwt_edge: Edge) -> None:
    admin_email = f"a-{uuid.uuid4().hex[:6]}@acme.io"
    async with jwt_edge.client("owner@acme.io") as owner:
        r = await owner.post("/v1/admin/users", json={"email": admin_email,
                                                      "password": PASSWORD, "role": "admin"})
        assert r.status_code == 201
        admin_id = r.json()["id"]
        owner_id = (await owner.get("/v1/me")).json()["user_id"]
        assert (await owner.delete(f"/v1/admin/users/{owner_id}")).status_code == 403
    await jwt_edge.login(admin_email)
    _, member_id = await _member(jwt_edge)
    async with jwt_edge.client(admin_email) as admin:
        assert (await admin.delete(f"/v1/admin/users/{owner_id}")).status_code == 403
        assert (await admin.patch(f"/v1/admin/users/{admin_id}",
                                  json={"role": "member"})).status_code == 403
        assert (await admin.patch(f"/v1/admin/users/{member_id}",
                                  json={"role": "admin"})).status_code == 403
        assert (await admin.delete(f"/v1/admin/users/{member_id}/sessions")
                ).status_code == 204


async def test_a_stream_ends_when_its_session_does(slow_edge: Edge) -> None:
    """A stream opened before a logout does not go on for the rest of its answer (29
    words at a second a word): it is cut within ALIVE_CHECK_S (5 s) of the logout."""
    owner = await slow_edge.tenant("pro")
    token = slow_edge.tokens[owner]
    received: list[str] = []
    async with slow_edge.client(owner) as c, c.stream("POST", "/v1/chat/completions", json={
            "model": "extractive", "stream": True,
            "messages": [{"role": "user", "content": "Tell me a very long story."}]}) as r:
        assert r.status_code == 200
        lines = r.aiter_lines()
        received.append(await anext(lines))
        async with slow_edge.client(Authorization=f"Bearer {token}") as other:
            assert (await other.post("/v1/auth/logout")).status_code == 204
        ended_at = time.monotonic()
        try:
            async for line in lines:
                received.append(line)
        except httpx.HTTPError:
            pass  # cut off: what the stream of an ended session gets
        cut_after = time.monotonic() - ended_at
    assert "data: [DONE]" not in received, "the answer was streamed to its end"
    assert cut_after < 12, cut_after


def _forged(claims: dict[str, Any], **changes: Any) -> str:
    """A token signed with the deployment's own key (as the test knows its secret): only
    the claims say whether it is for this service."""
    key = hmac.new(SECRET.encode(), b"chatstream jwt", hashlib.sha256).digest()
    body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
    return jwt.encode(body, key, algorithm="HS256")


async def test_tokens_for_another_audience_or_issuer_are_refused(jwt_edge: Edge) -> None:
    pair = await _sign_in(jwt_edge, "owner@beta.io")
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "chatstream" and claims["iss"] == "chatstream"
    assert (await _me(jwt_edge, _forged(claims))).status_code == 200, "the forgery is sound"
    for changes in ({"aud": "another-service"}, {"iss": "someone-else"}, {"aud": None},
                    {"iss": None}):
        r = await _me(jwt_edge, _forged(claims, **changes))
        assert r.status_code == 401, changes


def test_a_guessable_jwt_secret_keeps_the_edge_from_starting(tmp_path: Path) -> None:
    for secret in ("a" * 32, "0123456789abcdef" * 2 + "0123456789abcdef"):
        env = {**os.environ, **edge_env(tmp_path), "CHATSTREAM_AUTH": "jwt",
               "CHATSTREAM_JWT_SECRET": secret}
        run = subprocess.run([sys.executable, "-m", "chatstream.cli", "up", "--port", "0"],
                             env=env, capture_output=True, text=True, timeout=120)
        out = run.stdout + run.stderr
        assert run.returncode == 2, out
        assert "CHATSTREAM_JWT_SECRET" in run.stderr
        assert secret not in out
        assert "listening on" not in out
