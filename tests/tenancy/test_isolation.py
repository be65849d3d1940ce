"""Two tenants and several users on a real `chatstream up` with AUTH=jwt: every refusal."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet

from kernel.settings import Settings
from tests.e2e.chat import ask, new_conversation
from tests.e2e.test_knowledge import cited, upload, wait_until_indexed
from tests.support.stacks import Stack, start_stack
from tests.tenancy.support import JWT_ENV, SECRET, bootstrap, login

PASSWORDS = {"owner@acme.io": "acme-owner-pw-7781", "owner@beta.io": "beta-owner-pw-9124",
             "tiny@tiny.io": "tiny-owner-pw-3310", "few@tokens.io": "few-tokens-pw-8812"}
MEMBER_PW = "acme-member-pw-5562"


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack("embedded", tmp_path_factory.mktemp("jwt"), JWT_ENV)
    env = s.env_for_cli()
    # The command itself once (its password on stdin, into the running stack's store).
    bootstrap(env, "acme", "owner@acme.io", PASSWORDS["owner@acme.io"], cli=True)
    bootstrap(env, "beta", "owner@beta.io", PASSWORDS["owner@beta.io"])
    bootstrap(env, "tiny", "tiny@tiny.io", PASSWORDS["tiny@tiny.io"], plan="tiny")
    bootstrap(env, "few", "few@tokens.io", PASSWORDS["few@tokens.io"], plan="few_tokens")
    yield s
    s.stop()


def _client(stack: Stack, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=stack.url, timeout=30, headers=headers)


async def _token(stack: Stack, email: str) -> str:
    return (await login(stack.url, email, PASSWORDS.get(email, MEMBER_PW)))["access_token"]


async def _member(stack: Stack) -> str:
    async with _client(stack, await _token(stack, "owner@acme.io")) as owner:
        r = await owner.post("/v1/admin/users", json={"email": "member@acme.io",
                                                      "password": MEMBER_PW})
        assert r.status_code in (201, 409), r.text
    return await _token(stack, "member@acme.io")


async def test_no_credential_and_bad_passwords_are_401(jwt_stack: Stack) -> None:
    async with _client(jwt_stack) as anon:
        r = await anon.get("/v1/conversations")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await anon.post("/v1/auth/token", json={"email": "owner@acme.io",
                                                    "password": "wrong-password-1"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"


async def test_forged_expired_and_wrong_algorithm_tokens_are_401(jwt_stack: Stack) -> None:
    good = await _token(jwt_stack, "owner@acme.io")
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    alg_none = f"{none_header.decode()}.{body.decode()}."
    hs512 = jwt.encode(claims, SECRET * 2, algorithm="HS512")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, SECRET, algorithm="HS256")
    for bad in (forged, alg_none, hs512, expired, "not-a-token"):
        async with _client(jwt_stack, bad) as c:
            r = await c.get("/v1/conversations")
            assert r.status_code == 401, (bad, r.text)
    async with _client(jwt_stack, good) as c:
        assert (await c.get("/v1/conversations")).status_code == 200


async def test_another_tenants_or_users_conversation_is_refused(jwt_stack: Stack) -> None:
    async with (_client(jwt_stack, await _token(jwt_stack, "owner@acme.io")) as acme,
                _client(jwt_stack, await _token(jwt_stack, "owner@beta.io")) as beta,
                _client(jwt_stack, await _member(jwt_stack)) as member):
        cid = await new_conversation(acme)
        answer = await ask(acme, cid, "The acme secret colour is teal.")
        rid = answer.request_id
        for other in (beta, member):
            assert (await other.get(f"/v1/conversations/{cid}/messages")).status_code == 404
            r = await other.post(f"/v1/conversations/{cid}/messages", json={"text": "hi"})
            assert r.status_code == 404
            assert (await other.get(f"/v1/requests/{rid}/events")).status_code == 404
            assert (await other.post(f"/v1/requests/{rid}/cancel")).status_code == 404
            assert (await other.patch(f"/v1/conversations/{cid}/share",
                                      json={"public": True})).status_code == 404
            assert cid not in {c["id"] for c in (await other.get(
                "/v1/conversations")).json()["data"]}
        assert (await acme.get(f"/v1/conversations/{cid}/messages")).status_code == 200




async def test_api_keys_work_until_revoked_and_list_by_prefix(jwt_stack: Stack) -> None:
    async with _client(jwt_stack, await _token(jwt_stack, "owner@beta.io")) as beta:
        r = await beta.post("/v1/keys", json={"name": "ci"})
        assert r.status_code == 201
        key, prefix = r.json()["key"], r.json()["prefix"]
        listed = (await beta.get("/v1/keys")).json()["data"]
        assert [k["prefix"] for k in listed] == [prefix] and "key" not in listed[0]
        assert key not in json.dumps(listed)
    async with _client(jwt_stack, key) as programmatic:
        assert (await programmatic.get("/v1/conversations")).status_code == 200
        async with _client(jwt_stack, await _token(jwt_stack, "owner@acme.io")) as acme:
            assert (await acme.delete(f"/v1/keys/{prefix}")).status_code == 404
        assert (await programmatic.delete(f"/v1/keys/{prefix}")).status_code == 204
        r = await programmatic.get("/v1/conversations")
        assert r.status_code == 401 and r.json()["error"]["code"] == "key_revoked"
    async with _client(jwt_stack, key[:-2] + "zz") as wrong:
        assert (await wrong.get("/v1/conversations")).status_code == 401


async def test_refresh_rotates_and_a_reused_refresh_token_is_refused(jwt_stack: Stack) -> None:
    tokens = await login(jwt_stack.url, "owner@acme.io", PASSWORDS["owner@acme.io"])
    async with _client(jwt_stack) as c:
        r = await c.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200
        assert r.json()["refresh_token"] != tokens["refresh_token"]
        r = await c.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_reused"
        r = await c.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
        assert r.status_code == 401


async def test_sharing_serves_a_read_only_public_link(jwt_stack: Stack) -> None:
    async with _client(jwt_stack, await _token(jwt_stack, "owner@acme.io")) as acme:
        cid = await new_conversation(acme)
        await ask(acme, cid, "Shared facts: the harbour opens at nine.")
        r = await acme.patch(f"/v1/conversations/{cid}/share", json={"public": True})
        assert r.status_code == 200
        url = r.json()["url"]
        async with _client(jwt_stack) as anon:
            r = await anon.get(url)
            assert r.status_code == 200
            assert "harbour" in json.dumps(r.json()) and "acme" not in json.dumps(r.json())
            assert (await acme.patch(f"/v1/conversations/{cid}/share",
                                     json={"public": False})).json() == {"public": False,
                                                                         "url": None}
            assert (await anon.get(url)).status_code == 404


async def test_monthly_quota_is_429_naming_the_limit(jwt_stack: Stack) -> None:
    async with _client(jwt_stack, await _token(jwt_stack, "tiny@tiny.io")) as tiny:
        cid = await new_conversation(tiny)
        for _ in range(2):
            assert (await tiny.post(f"/v1/conversations/{cid}/messages",
                                    json={"text": "hello"})).status_code == 202
        r = await tiny.post(f"/v1/conversations/{cid}/messages", json={"text": "hello"})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        assert "messages_per_month" in r.json()["error"]["message"]
        usage = (await tiny.get("/v1/usage")).json()
        assert usage["plan"] == "tiny" and usage["used"]["messages"] == 2


async def test_another_tenants_documents_and_passages_are_out_of_reach(
        jwt_stack: Stack) -> None:
    keeper = f"Ysolde Brannock-{uuid.uuid4().hex[:6]}"
    text = (f"Harbour notes of Skarholm. The Skarholm harbour master is {keeper}. "
            "The ferry leaves at seven.").encode()
    async with (_client(jwt_stack, await _token(jwt_stack, "owner@acme.io")) as acme,
                _client(jwt_stack, await _token(jwt_stack, "owner@beta.io")) as beta):
        r = await upload(acme, "harbour.txt", text, "text/plain")
        assert r.status_code == 202, r.text
        doc_id = r.json()["id"]
        assert (await wait_until_indexed(acme, doc_id))["status"] == "ready"
        assert (await beta.get(f"/v1/documents/{doc_id}")).status_code == 404
        assert (await beta.delete(f"/v1/documents/{doc_id}")).status_code == 404
        assert doc_id not in {d["id"] for d in (await beta.get("/v1/documents")).json()["data"]}
        question = "Who is the Skarholm harbour master?"
        theirs = await ask(beta, await new_conversation(beta), question)
        assert keeper not in theirs.text and not cited(theirs)
        ours = await ask(acme, await new_conversation(acme), question)
        assert {c["document_id"] for c in cited(ours)} == {doc_id}


async def test_a_colleagues_conversation_attachment_is_not_cited_for_you(
        jwt_stack: Stack) -> None:
    keeper = f"Odile Varrance-{uuid.uuid4().hex[:6]}"
    text = f"Skarholm lamp notes. The Skarholm lamp keeper is {keeper}.".encode()
    async with (_client(jwt_stack, await _token(jwt_stack, "owner@acme.io")) as owner,
                _client(jwt_stack, await _member(jwt_stack)) as member):
        cid = await new_conversation(owner)
        r = await upload(owner, "lamp.txt", text, "text/plain", scope=f"conversation:{cid}")
        assert r.status_code == 202, r.text
        doc_id = r.json()["id"]
        assert (await wait_until_indexed(owner, doc_id))["status"] == "ready"
        question = "Who is the Skarholm lamp keeper?"
        mine = await ask(owner, cid, question)
        assert doc_id in {c["document_id"] for c in cited(mine)}, (cited(mine), mine.text)
        theirs = await ask(member, await new_conversation(member), question)
        assert keeper not in theirs.text
        assert doc_id not in {c["document_id"] for c in cited(theirs)}
        assert (await member.get(f"/v1/documents/{doc_id}")).status_code == 404
        listed = (await member.get("/v1/documents")).json()["data"]
        assert doc_id not in {d["id"] for d in listed}
        r = await member.get("/v1/documents", params={"scope": f"conversation:{cid}"})
        assert r.status_code == 404
        r = await upload(member, "x.txt", b"mine now", "text/plain", scope=f"conversation:{cid}")
        assert r.status_code == 404


async def test_deleting_another_tenants_conversation_is_refused(jwt_stack: Stack) -> None:
    async with (_client(jwt_stack, await _token(jwt_stack, "owner@acme.io")) as acme,
                _client(jwt_stack, await _token(jwt_stack, "owner@beta.io")) as beta,
                _client(jwt_stack, await _member(jwt_stack)) as member):
        cid = await new_conversation(acme)
        assert (await beta.delete(f"/v1/conversations/{cid}")).status_code == 404
        assert (await member.delete(f"/v1/conversations/{cid}")).status_code == 404
        assert (await acme.get(f"/v1/conversations/{cid}/messages")).status_code == 200
        assert (await acme.delete(f"/v1/conversations/{cid}")).status_code == 204
        assert (await acme.get(f"/v1/conversations/{cid}/messages")).status_code == 404


async def test_bookmarks_are_per_user(jwt_stack: Stack) -> None:
    async with (_client(jwt_stack, await _token(jwt_stack, "owner@acme.io")) as acme,
                _client(jwt_stack, await _token(jwt_stack, "owner@beta.io")) as beta):
        marked, plain = await new_conversation(acme), await new_conversation(acme)
        assert (await acme.put(f"/v1/conversations/{marked}/bookmark")).status_code == 204
        assert (await beta.put(f"/v1/conversations/{plain}/bookmark")).status_code == 404
        ids = [c["id"] for c in (await acme.get("/v1/conversations",
                                                params={"bookmarked": "true"})).json()["data"]]
        assert marked in ids and plain not in ids
        assert (await acme.delete(f"/v1/conversations/{marked}/bookmark")).status_code == 204
        ids = [c["id"] for c in (await acme.get("/v1/conversations",
                                                params={"bookmarked": "true"})).json()["data"]]
        assert marked not in ids


async def test_tokens_are_counted_and_limit_the_month(jwt_stack: Stack) -> None:
    async with _client(jwt_stack, await _token(jwt_stack, "few@tokens.io")) as few:
        cid = await new_conversation(few)
        await ask(few, cid, "Count my tokens, please.")
        deadline = time.monotonic() + 30
        while (await few.get("/v1/usage")).json()["used"].get("tokens", 0) == 0:
            assert time.monotonic() < deadline, "tokens never counted"
            await asyncio.sleep(0.2)
        r = await few.post(f"/v1/conversations/{cid}/messages", json={"text": "more"})
        assert r.status_code == 429 and "tokens_per_month" in r.json()["error"]["message"]


PROVIDER_KEY = "sk-tenant-brought-" + "q" * 24


async def test_provider_keys_are_stored_encrypted(jwt_stack: Stack) -> None:
    async with _client(jwt_stack, await _token(jwt_stack, "owner@beta.io")) as beta:
        r = await beta.put("/v1/admin/credentials/openai", json={"api_key": PROVIDER_KEY})
        assert r.status_code == 204, r.text
        listed = (await beta.get("/v1/admin/credentials")).json()
        assert listed == {"providers": ["openai"]}
    db = Path(jwt_stack.env["CHATSTREAM_DATA_DIR"]) / "chatstream.db"
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT ciphertext FROM credentials WHERE "
                                 "tenant_id='beta'").fetchone()
    assert PROVIDER_KEY not in stored
    assert Fernet(JWT_ENV["CHATSTREAM_CREDENTIALS_KEY"]).decrypt(stored).decode() == PROVIDER_KEY


def test_logs_never_contain_secrets(jwt_stack: Stack, tmp_path: Path) -> None:
    """Runs last in this module: every secret above went through the stack by now."""
    logs = "\n".join(p.log_path.read_text() for p in jwt_stack.processes)
    assert logs.strip(), "no logs captured"
    for secret in (*PASSWORDS.values(), MEMBER_PW, SECRET, "wrong-password-1", PROVIDER_KEY,
                   JWT_ENV["CHATSTREAM_CREDENTIALS_KEY"]):
        assert secret not in logs
    assert not re.search(r"cs_[0-9a-f]{12}_", logs), "no API key in the logs"
    assert "eyJ" not in logs, "no JWT in the logs"


async def test_embeddings_are_metered_against_the_tenants_tokens(jwt_stack: Stack) -> None:
    async with _client(jwt_stack, await _token(jwt_stack, "owner@beta.io")) as beta:
        before = (await beta.get("/v1/usage")).json()["used"].get("tokens", 0)
        r = await beta.post("/v1/embeddings", json={
            "model": Settings.model_fields["embedder"].default,
            "input": ["forty characters of text to be embedded", "and some more"]})
        assert r.status_code == 200, r.text
        used = r.json()["usage"]["prompt_tokens"]
        assert used > 0
        after = (await beta.get("/v1/usage")).json()["used"].get("tokens", 0)
        assert after - before >= used  # answers of earlier tests may still be counted
    async with _client(jwt_stack) as anonymous:
        r = await anonymous.post("/v1/embeddings", json={"model": "x", "input": "hi"})
        assert r.status_code == 401
