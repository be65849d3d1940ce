"""The edge's rules, checked in-process in seconds: the real app and services the
composition root builds (embedded log, SQLite), driven through httpx's ASGI transport.

The subprocess stacks (tests/e2e, tests/security, tests/tenancy) check the same rules
end to end; these keep the rules fast to check while the edge changes."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from api.app import create_app
from chatstream.bootstrap import bootstrap
from chatstream.compose import deployment
from kernel.settings import Settings

PASSWORD = "correct-horse-battery-41"
JWT = {
    "auth": "jwt",
    "jwt_secret": "asgi-jwt-3c9e1f7a5b2d48e6a0c4f19d7b3e5a21",
    "credentials_key": "POso4t2yz8O87juIbY7Adnns9odMm3i93Ye0mCL7xPQ=",
    "plans": {"tiny": {"messages_per_month": 2}, "burst": {"requests_per_minute": 3}},
}


@pytest.fixture(autouse=True)
def _no_ambient_settings() -> Iterator[None]:
    """Only what a test passes: CHATSTREAM_* of the calling shell must not leak in."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("CHATSTREAM_")}
    yield
    os.environ.update(saved)


@asynccontextmanager
async def edge(tmp: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    s = Settings(data_dir=tmp, lag_interval_s=0, log_durable=False, **settings)
    async with deployment(s, edge=True, stages=()) as running:
        assert running.services is not None
        transport = httpx.ASGITransport(app=create_app(running.services))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            yield c


async def _conversation(c: httpx.AsyncClient, headers: dict[str, str] | None = None) -> str:
    r = await c.post("/v1/conversations", json={}, headers=headers or {})
    assert r.status_code == 201, r.text
    cid: str = r.json()["id"]
    return cid


def _error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    # chatstream's keys, and OpenAI's: its SDKs read every error of the edge.
    assert set(body) == {"code", "message", "type", "param"}
    assert body["type"] == {401: "authentication_error", 403: "permission_error",
                            404: "not_found_error", 409: "conflict_error",
                            429: "rate_limit_error"}.get(status, "invalid_request_error"
                                                         if status < 500 else "server_error")
    if code is not None:
        assert body["code"] == code


async def test_a_message_is_accepted_and_a_repeated_key_returns_the_first_answer(
        tmp_path: Path) -> None:
    async with edge(tmp_path) as c:
        cid = await _conversation(c)
        url = f"/v1/conversations/{cid}/messages"
        first = await c.post(url, json={"text": "hello"}, headers={"Idempotency-Key": "k1"})
        assert first.status_code == 202, first.text
        assert {"request_id", "message_id", "events_url"} <= set(first.json())
        again = await c.post(url, json={"text": "hello"}, headers={"Idempotency-Key": "k1"})
        assert again.status_code == 202
        assert again.json()["request_id"] == first.json()["request_id"]
        other = await c.post(url, json={"text": "another"}, headers={"Idempotency-Key": "k1"})
        _error(other, 409, "idempotency_key_reused")
        fresh = await c.post(url, json={"text": "hello"})
        assert fresh.json()["request_id"] != first.json()["request_id"]


async def test_bodies_are_bounded_and_must_be_json(tmp_path: Path) -> None:
    async with edge(tmp_path, max_json_bytes=1024) as c:
        cid = await _conversation(c)
        url = f"/v1/conversations/{cid}/messages"
        _error(await c.post(url, json={"text": "x" * 4096}), 413)
        _error(await c.post(url, content=b"text=hi",
                            headers={"content-type": "application/x-www-form-urlencoded"}), 415)
        _error(await c.post(url, content=b"{not json",
                            headers={"content-type": "application/json"}), 422, "invalid_json")
        _error(await c.post(url, json={"text": ""}), 422)


async def test_unknown_things_are_json_404s(tmp_path: Path) -> None:
    async with edge(tmp_path) as c:
        _error(await c.get("/v1/nothing-here"), 404)
        _error(await c.get("/v1/conversations/does-not-exist/messages"), 404)
        _error(await c.get("/v1/requests/does-not-exist/events"), 404)


async def test_a_422_names_the_field_at_fault_in_param(tmp_path: Path) -> None:
    """As OpenAI's errors do (and this edge's OpenAI routes did): the native routes'
    422s said which field in the message only, ``param`` was null."""
    async with edge(tmp_path) as c:
        cid = await _conversation(c)
        for url, body, param in ((f"/v1/conversations/{cid}/messages", {"text": None}, "text"),
                                 ("/v1/conversations", {"title": "t" * 500}, "title"),
                                 (f"/v1/conversations/{cid}", {"settings": {"temperature": 9}},
                                  "settings.temperature")):
            method = c.patch if url.endswith(cid) else c.post
            r = await method(url, json=body)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["param"] == param, r.text
        r = await c.get("/v1/conversations/search", params={"q": ""})
        assert r.json()["error"]["param"] == "query.q"


async def test_a_responses_error_names_the_field_its_client_sent(tmp_path: Path) -> None:
    """A Responses request is checked as the chat request it becomes: its errors named
    the chat twins (max_completion_tokens, response_format), fields the client never
    sent."""
    async with edge(tmp_path) as c:
        for extra, param in (({"max_output_tokens": 0}, "max_output_tokens"),
                             ({"text": {"format": {"type": "json_object"}}}, "text.format")):
            r = await c.post("/v1/responses",
                             json={"model": "extractive", "input": "hi", **extra})
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["param"] == param, error
            assert "max_completion_tokens" not in error["message"], error
            assert "response_format" not in error["message"], error


async def test_an_assistants_variable_at_fault_is_named_in_param(tmp_path: Path) -> None:
    """The OpenAI routes named it (``variables.topic``); the native route dropped it."""
    async with edge(tmp_path) as c:
        r = await c.post("/v1/assistants", json={
            "name": "short", "title": "Short", "instructions": "Help with {{topic}}.",
            "variables": [{"name": "topic", "type": "string", "max_length": 5}]})
        assert r.status_code == 201, r.text
        cid = await _conversation(c)
        r = await c.post(f"/v1/conversations/{cid}/messages", json={
            "text": "hi", "assistant": "short", "variables": {"topic": "far too long"}})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == "variables.topic", r.text


async def test_head_is_answered_where_monitors_and_curl_i_ask(tmp_path: Path) -> None:
    """HTTP servers answer HEAD where they answer GET (RFC 9110); uptime monitors and
    `curl -I` use it. The page and the probes were 405."""
    async with edge(tmp_path) as c:
        for path in ("/", "/healthz", "/readyz"):
            r = await c.head(path)
            assert r.status_code == 200, (path, r.status_code)
            assert r.headers["content-type"] == (await c.get(path)).headers["content-type"]


async def test_jwt_needs_a_credential_and_keeps_tenants_apart(tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path, **JWT)  # type: ignore[arg-type]
    await bootstrap(base, "acme", "ann@acme.test", PASSWORD)
    await bootstrap(base, "globex", "gil@globex.test", PASSWORD)
    async with edge(tmp_path, **JWT) as c:
        _error(await c.get("/v1/conversations"), 401)
        _error(await c.get("/v1/conversations",
                           headers={"Authorization": "Bearer not-a-token"}), 401)
        _error(await c.post("/v1/auth/token",
                            json={"email": "ann@acme.test", "password": "wrong-password"}), 401)
        ann = await _login(c, "ann@acme.test")
        gil = await _login(c, "gil@globex.test")
        cid = await _conversation(c, ann)
        assert (await c.get(f"/v1/conversations/{cid}/messages", headers=ann)).status_code == 200
        # Another tenant's conversation does not exist for this caller.
        _error(await c.get(f"/v1/conversations/{cid}/messages", headers=gil), 404)
        _error(await c.post(f"/v1/conversations/{cid}/messages", json={"text": "hi"},
                            headers=gil), 404)
        theirs = (await c.get("/v1/conversations", headers=gil)).json()["data"]
        assert cid not in {x["id"] for x in theirs}
        assert cid in {x["id"] for x in (await c.get("/v1/conversations",
                                                      headers=ann)).json()["data"]}


async def test_plan_limits_refuse_with_429_and_retry_after(tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path, **JWT)  # type: ignore[arg-type]
    await bootstrap(base, "small", "sam@small.test", PASSWORD, plan="tiny")
    async with edge(tmp_path, **JWT) as c:
        sam = await _login(c, "sam@small.test")
        cid = await _conversation(c, sam)
        url = f"/v1/conversations/{cid}/messages"
        for n in range(2):
            assert (await c.post(url, json={"text": f"m{n}"}, headers=sam)).status_code == 202
        refused = await c.post(url, json={"text": "one too many"}, headers=sam)
        _error(refused, 429, "quota_exceeded")
        assert int(refused.headers["Retry-After"]) > 0


async def _tokens(c: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await c.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


async def _login(c: httpx.AsyncClient, email: str) -> dict[str, str]:
    return _bearer((await _tokens(c, email))["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def jwt_edge(tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An edge with AUTH=jwt and two tenants: ann owns acme, gil owns globex."""
    base = Settings(data_dir=tmp, **JWT)  # type: ignore[arg-type]
    await bootstrap(base, "acme", "ann@acme.test", PASSWORD)
    await bootstrap(base, "globex", "gil@globex.test", PASSWORD)
    async with edge(tmp, **JWT) as c:
        yield c


async def test_no_credential_forged_expired_or_wrong_algorithm_tokens_are_401(
        tmp_path: Path) -> None:
    async with jwt_edge(tmp_path) as c:
        r = await c.get("/v1/conversations")
        _error(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        _error(await c.post("/v1/auth/token", json={"email": "ann@acme.test",
                                                    "password": "wrong-password-1"}),
               401, "invalid_credentials")
        ann = await _login(c, "ann@acme.test")
        good = ann["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(good, options={"verify_signature": False})
        secret = str(JWT["jwt_secret"])
        forged = jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")
        none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
        alg_none = f"{none_header.decode()}.{body.decode()}."
        hs512 = jwt.encode(claims, secret * 2, algorithm="HS512")
        expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, secret,
                             algorithm="HS256")
        for bad in (forged, alg_none, hs512, expired, "not-a-token"):
            _error(await c.get("/v1/conversations", headers=_bearer(bad)), 401)
        assert (await c.get("/v1/conversations", headers=ann)).status_code == 200


async def test_a_member_cannot_call_admin_routes(tmp_path: Path) -> None:
    async with jwt_edge(tmp_path) as c:
        ann = await _login(c, "ann@acme.test")
        r = await c.post("/v1/admin/users", json={"email": "mia@acme.test",
                                                  "password": PASSWORD}, headers=ann)
        assert r.status_code == 201, r.text
        mia = await _login(c, "mia@acme.test")
        for method, path in (("GET", "/v1/admin/users"), ("GET", "/v1/admin/keys"),
                             ("GET", "/v1/admin/usage"), ("POST", "/v1/admin/users")):
            r = await c.request(method, path, headers=mia,
                                json={"email": "x@acme.test", "password": "12345678"})
            _error(r, 403)
        users = (await c.get("/v1/admin/users", headers=ann)).json()["data"]
        assert {u["email"] for u in users} == {"ann@acme.test", "mia@acme.test"}


async def test_api_keys_work_until_revoked_and_list_by_prefix(tmp_path: Path) -> None:
    async with jwt_edge(tmp_path) as c:
        gil = await _login(c, "gil@globex.test")
        r = await c.post("/v1/keys", json={"name": "ci"}, headers=gil)
        assert r.status_code == 201, r.text
        key, prefix = r.json()["key"], r.json()["prefix"]
        listed = (await c.get("/v1/keys", headers=gil)).json()["data"]
        assert [k["prefix"] for k in listed] == [prefix] and "key" not in listed[0]
        assert key not in json.dumps(listed)
        assert (await c.get("/v1/conversations", headers=_bearer(key))).status_code == 200
        # Another tenant's owner cannot revoke it: it does not exist for them.
        ann = await _login(c, "ann@acme.test")
        _error(await c.delete(f"/v1/keys/{prefix}", headers=ann), 404)
        assert (await c.delete(f"/v1/keys/{prefix}", headers=_bearer(key))).status_code == 204
        _error(await c.get("/v1/conversations", headers=_bearer(key)), 401, "key_revoked")
        _error(await c.get("/v1/conversations", headers=_bearer(key[:-2] + "zz")), 401)


async def test_refresh_rotates_and_a_reused_refresh_token_is_refused(tmp_path: Path) -> None:
    async with jwt_edge(tmp_path) as c:
        tokens = await _tokens(c, "ann@acme.test")
        r = await c.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200, r.text
        assert r.json()["refresh_token"] != tokens["refresh_token"]
        r = await c.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        _error(r, 401, "refresh_reused")
        r = await c.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
        _error(r, 401)


async def test_a_deleted_conversation_takes_no_message_at_once(tmp_path: Path) -> None:
    """The edge remembers a conversation's owner for a few seconds (api/guards/ownership.py)
    so a message POST rarely asks the store; deleting the conversation through this edge
    forgets it at once: the next message is 404, not accepted into a conversation that no
    longer exists (through another edge: within the cache's 5 s, docs/security.md)."""
    async with edge(tmp_path) as c:
        cid = await _conversation(c)
        r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "hello"})
        assert r.status_code == 202, r.text  # the owner is remembered now
        assert (await c.delete(f"/v1/conversations/{cid}")).status_code == 204
        r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "again"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
