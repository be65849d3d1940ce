"""Long-term memory end to end, on every stack: facts kept from finished exchanges (with
the message they came from), recalled by meaning into new conversations and cited as
memory, through the native API and the official openai client; edited, deleted (from the
store and the vector index: Weaviate on the Kafka stack), paused, off for a tenant, never
read nor written by a temporary chat, and never crossing tenants."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.chat import Answer, ask, new_conversation
from tests.e2e.test_knowledge import cited
from tests.support.stacks import Stack


@pytest.fixture
async def member(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-Dev-Tenant": f"mem-{uuid.uuid4().hex[:8]}"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30, headers=headers) as c:
        yield c


async def _memories(c: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await c.get("/v1/memories")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["data"]
    return found


async def _until_kept(c: httpx.AsyncClient, text: str, timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for m in await _memories(c):
            if m["text"] == text:
                return m
        assert asyncio.get_running_loop().time() < deadline, await _memories(c)
        await asyncio.sleep(0.3)


def _recalled(answer: Answer) -> list[dict[str, Any]]:
    return [x for x in cited(answer) if x["document_id"].startswith("memory:")]


def _indexed(stack: Stack, tenant: str, document_id: str) -> int:
    """Chunks of ``document_id`` in the stack's vector index, read from it directly."""
    url = stack.env.get("CHATSTREAM_VECTORS", "")
    if not url.startswith("weaviate://"):
        path = f"{stack.env['CHATSTREAM_DATA_DIR']}/vectors/vectors.db"
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT count(*) FROM chunks WHERE tenant_id=? AND "
                                  "document_id=?", (tenant, document_id)).fetchone()[0])
    import weaviate
    from weaviate.classes.query import Filter

    address, _, base = url.removeprefix("weaviate://").partition("/")
    host, port = address.rsplit(":", 1)
    client = weaviate.connect_to_local(host=host, port=int(port), grpc_port=int(
        os.environ.get("CHATSTREAM_WEAVIATE_GRPC_PORT", "50051")), skip_init_checks=True)
    try:
        total = 0
        for name in client.collections.list_all(simple=True):
            if name.startswith(f"{base}_"):
                found = client.collections.use(name).with_tenant(tenant).aggregate.over_all(
                    total_count=True,
                    filters=Filter.by_property("document_id").equal(document_id))
                total += int(found.total_count or 0)
        return total
    finally:
        client.close()


async def test_memory_is_kept_recalled_edited_deleted_and_controlled(
        member: httpx.AsyncClient, stack: Stack) -> None:
    c = member
    tenant = c.headers["X-Dev-Tenant"]
    first = await new_conversation(c)
    told = await ask(c, first, "My name is Ada Quill. I work on the billing service.")
    assert told.last.event == "done", stack.logs()
    work = await _until_kept(c, "Works on the billing service")
    name = await _until_kept(c, "Is called Ada Quill")
    assert work["origin"] == "extracted" and work["source_conversation_id"] == first
    assert work["source_message_id"] and name["source_conversation_id"] == first

    # Recalled by meaning into a new conversation, cited as memory.
    later = await ask(c, await new_conversation(c), "Which service do I work on?")
    assert later.last.event == "done", stack.logs()
    assert [x["title"] for x in _recalled(later)] == ["Memory"]
    assert _recalled(later)[0]["document_id"] == f"memory:{work['id']}"
    assert "billing service" in later.text

    # A temporary chat neither reads nor writes memory.
    temp = await new_conversation(c)
    secret = await ask(c, temp, "Which service do I work on?", memory=False)
    assert _recalled(secret) == []
    await ask(c, temp, "I live in Lisbon.", memory=False)
    await ask(c, temp, "I use Rust.")
    await _until_kept(c, "Uses Rust")
    assert "Lives in Lisbon" not in [m["text"] for m in await _memories(c)]

    # Edited: the new text is what is recalled; the official client recalls it when asked.
    r = await c.patch(f"/v1/memories/{work['id']}",
                      json={"text": "Works on the payments service"})
    assert r.status_code == 200 and r.json()["text"] == "Works on the payments service"
    edited = await ask(c, await new_conversation(c), "Which service do I work on?")
    assert "payments service" in edited.text and "billing" not in edited.text
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev", max_retries=0,
                                default_headers={"X-Dev-Tenant": tenant})
    try:
        done = await client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Which service do I work on?"}],
            extra_body={"memory": True})
        assert "payments service" in (done.choices[0].message.content or "")
        plain = await client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Which service do I work on?"}])
        assert "payments" not in (plain.choices[0].message.content or "")
    finally:
        await client.close()

    # Another tenant sees none of it and cannot touch it.
    async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                 headers={"X-Dev-Tenant": f"x-{tenant}"}) as other:
        assert await _memories(other) == []
        assert (await other.delete(f"/v1/memories/{work['id']}")).status_code == 404
        alien = await ask(other, await new_conversation(other), "Which service do I work on?")
        assert _recalled(alien) == []

    # Deleted: gone from the store and from the index, never recalled again.
    assert _indexed(stack, tenant, f"memory:{work['id']}") == 1
    assert (await c.delete(f"/v1/memories/{work['id']}")).status_code == 204
    assert work["id"] not in [m["id"] for m in await _memories(c)]
    assert _indexed(stack, tenant, f"memory:{work['id']}") == 0
    gone = await ask(c, await new_conversation(c), "Which service do I work on?")
    assert all(x["document_id"] != f"memory:{work['id']}" for x in cited(gone))
    assert "payments" not in gone.text

    # Added by hand, then paused: nothing recalled, nothing kept.
    r = await c.post("/v1/memories", json={"text": "Has a cat named Pixel"})
    assert r.status_code == 201 and r.json()["origin"] == "user"
    pet = await ask(c, await new_conversation(c), "What is my cat named?")
    assert "Pixel" in pet.text and _recalled(pet)
    assert (await c.put("/v1/memories/settings", json={"paused": True})).status_code == 200
    paused = await ask(c, await new_conversation(c), "What is my cat named?")
    assert _recalled(paused) == [] and "Pixel" not in paused.text
    await ask(c, await new_conversation(c), "I am vegetarian.")
    await c.put("/v1/memories/settings", json={"paused": False})
    await ask(c, await new_conversation(c), "I use Go.")
    await _until_kept(c, "Uses Go")
    assert "Is vegetarian" not in [m["text"] for m in await _memories(c)]

    # An admin turns memory off for the tenant.
    assert (await c.put("/v1/memories/tenant", json={"enabled": False})).status_code == 200
    off = await ask(c, await new_conversation(c), "What is my cat named?")
    assert _recalled(off) == []
    assert (await c.post("/v1/memories", json={"text": "x"})).status_code == 403
    listed = (await c.get("/v1/memories")).json()
    assert listed["enabled"] is False and listed["data"]  # still seen, still deletable
