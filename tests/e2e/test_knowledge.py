"""Documents end to end, on every stack: upload, indexing status, answers that cite the
document, scope, deletion, and bad input (415, 413, a corrupt PDF failing with a reason
and going to the dead-letter topic)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from harness.servers import KAFKA
from tests.e2e.chat import Answer, ask, new_conversation, wait_for_messages
from tests.support.documents import CORRUPT_PDF, make_paged_pdf, make_pdf, make_png
from tests.support.stacks import Stack

# Each test in a tenant of its own: the documents a test asserts are cited are the only
# ones there, whatever other tests uploaded (or left behind when they failed).
pytestmark = pytest.mark.own_tenant


async def upload(client: httpx.AsyncClient, filename: str, data: bytes, content_type: str,
                 **form: str) -> httpx.Response:
    return await client.post("/v1/documents", files={"file": (filename, data, content_type)},
                             data=form)


async def wait_until_indexed(client: httpx.AsyncClient, document_id: str,
                             timeout: float = 90.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await client.get(f"/v1/documents/{document_id}")
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        if doc["status"] in ("ready", "failed"):
            return doc
        assert doc["status"] in ("queued", "indexing")
        assert 0.0 <= doc["progress"] <= 1.0
        assert asyncio.get_running_loop().time() < deadline, f"still {doc['status']}"
        await asyncio.sleep(0.2)


def cited(answer: Answer) -> list[dict[str, Any]]:
    citations: list[dict[str, Any]] = []
    for e in answer.events:
        if e.event == "citations":
            citations.extend(e.json()["citations"])
    return citations


def assert_citations_before_tokens(answer: Answer) -> None:
    kinds = [e.event for e in answer.events]
    assert "citations" in kinds and "token" in kinds
    assert kinds.index("citations") < kinds.index("token")


async def test_pdf_fact_is_answered_with_its_citation_until_deleted(
        client: httpx.AsyncClient, stack: Stack) -> None:
    keeper = f"Teodric Ashmole-{uuid.uuid4().hex[:6]}"
    pdf = make_pdf(["Staff notes of the Quorvane lighthouse.",
                    f"The Quorvane lighthouse keeper is {keeper}.",
                    "The lamp is lit at dusk and trimmed at midnight."])
    r = await upload(client, "quorvane.pdf", pdf, "application/pdf", title="Quorvane notes")
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["status"] == "queued" and doc["media_type"] == "application/pdf"
    assert doc["size"] == len(pdf) and doc["conversation_id"] is None

    indexed = await wait_until_indexed(client, doc["id"])
    assert indexed["status"] == "ready", (indexed, stack.logs())
    assert indexed["progress"] == 1.0 and indexed["chunks_total"] >= 1
    listed = (await client.get("/v1/documents")).json()["data"]
    assert doc["id"] in [d["id"] for d in listed]

    cid = await new_conversation(client)
    answer = await ask(client, cid, "Who is the keeper of the Quorvane lighthouse?")
    assert answer.last.event == "done", stack.logs()
    assert keeper in answer.text
    assert_citations_before_tokens(answer)
    assert {(c["document_id"], c["title"]) for c in cited(answer)} == {
        (doc["id"], "Quorvane notes")}
    assert all(isinstance(c["chunk"], int) for c in cited(answer))

    stored = await wait_for_messages(client, cid, 2)
    assert [c["document_id"] for c in stored[1]["citations"]] == [
        c["document_id"] for c in cited(answer)]

    assert (await client.delete(f"/v1/documents/{doc['id']}")).status_code == 204
    assert (await client.get(f"/v1/documents/{doc['id']}")).status_code == 404
    assert (await client.delete(f"/v1/documents/{doc['id']}")).status_code == 404
    after = await ask(client, await new_conversation(client),
                      "Who is the keeper of the Quorvane lighthouse?")
    assert after.last.event == "done"
    assert doc["id"] not in [c["document_id"] for c in cited(after)]
    assert keeper not in after.text


async def test_png_text_is_read_by_ocr_and_cited_in_its_conversation(
        client: httpx.AsyncClient, stack: Stack) -> None:
    cid = await new_conversation(client)
    png = make_png(["Maintenance rules of the Quillfeather bridge:",
                    "the Quillfeather bridge is painted cobalt green",
                    "every ninth spring."])
    r = await upload(client, "bridge.png", png, "image/png", conversation_id=cid)
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["conversation_id"] == cid and doc["title"] == "bridge.png"
    indexed = await wait_until_indexed(client, doc["id"])
    assert indexed["status"] == "ready", (indexed, stack.logs())

    answer = await ask(client, cid, "What colour is the Quillfeather bridge painted?")
    assert answer.last.event == "done", stack.logs()
    assert "cobalt green" in answer.text
    assert_citations_before_tokens(answer)
    assert [c["document_id"] for c in cited(answer)] == [doc["id"]]

    # Scoped to its conversation: another conversation does not retrieve it.
    other = await ask(client, await new_conversation(client),
                      "What colour is the Quillfeather bridge painted?")
    assert doc["id"] not in [c["document_id"] for c in cited(other)]

    assert (await client.delete(f"/v1/documents/{doc['id']}")).status_code == 204
    again = await ask(client, cid, "What colour is the Quillfeather bridge painted?")
    assert cited(again) == []


async def test_a_document_attached_to_a_conversation_is_listed_and_cited_there_only(
        client: httpx.AsyncClient, stack: Stack) -> None:
    cid = await new_conversation(client)
    tag = uuid.uuid4().hex[:6]
    text = f"Brindlemoor notes. The Brindlemoor mill grinds barley-{tag} on Tuesdays.".encode()
    r = await upload(client, "mill.txt", text, "text/plain", scope=f"conversation:{cid}")
    assert r.status_code == 202, r.text
    doc = r.json()
    assert (doc["scope"], doc["conversation_id"]) == (f"conversation:{cid}", cid)
    assert (await wait_until_indexed(client, doc["id"]))["status"] == "ready"

    attached = await client.get("/v1/documents", params={"scope": f"conversation:{cid}"})
    assert [d["id"] for d in attached.json()["data"]] == [doc["id"]]
    library = await client.get("/v1/documents", params={"scope": "tenant"})
    assert doc["id"] not in [d["id"] for d in library.json()["data"]]

    question = "What does the Brindlemoor mill grind on Tuesdays?"
    here = await ask(client, cid, question)
    assert [c["document_id"] for c in cited(here)] == [doc["id"]], stack.logs()
    elsewhere = await ask(client, await new_conversation(client), question)
    assert doc["id"] not in [c["document_id"] for c in cited(elsewhere)]
    assert f"barley-{tag}" not in elsewhere.text


async def test_a_scope_that_is_not_one_is_422_and_another_conversation_404(
        client: httpx.AsyncClient) -> None:
    for scope in ("everyone", "conversation:", "planet:mars"):
        r = await upload(client, "a.txt", b"hello", "text/plain", scope=scope)
        assert r.status_code == 422, (scope, r.text)
        assert r.json()["error"]["code"] == "invalid_scope"
        r = await client.get("/v1/documents", params={"scope": scope})
        assert r.status_code == 422, (scope, r.text)
    cid = await new_conversation(client)
    r = await upload(client, "a.txt", b"hello", "text/plain", scope="conversation:nope",
                     conversation_id=cid)
    assert r.status_code == 422
    assert (await upload(client, "a.txt", b"hello", "text/plain",
                         scope="conversation:nope")).status_code == 404
    assert (await client.get("/v1/documents",
                             params={"scope": "conversation:nope"})).status_code == 404


async def test_a_citation_names_its_page_and_opens_its_passage(
        client: httpx.AsyncClient, stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    moorings = [f"Mooring {i} takes boats up to {i + 8} metres, booked a week ahead."
                for i in range(20)]  # a page longer than a passage: page two starts one
    pdf = make_paged_pdf([["Orvelle harbour handbook, chapter one: moorings.", *moorings],
                          ["Chapter two: the Orvelle harbour pilot is "
                           f"Maren Tully-{tag}, on duty at dawn."]])
    r = await upload(client, "handbook.pdf", pdf, "application/pdf")
    doc = r.json()
    assert (await wait_until_indexed(client, doc["id"]))["status"] == "ready"
    answer = await ask(client, await new_conversation(client),
                       "Who is the Orvelle harbour pilot?")
    found = [c for c in cited(answer) if c["document_id"] == doc["id"] and c["page"] == 2]
    assert len(found) == 1, (cited(answer), answer.text)
    [citation] = found
    assert f"Maren Tully-{tag}" in citation["excerpt"], stack.logs()

    r = await client.get(f"/v1/documents/{doc['id']}/passages/{citation['chunk']}")
    assert r.status_code == 200, r.text
    passage = r.json()
    assert (passage["page"], passage["title"]) == (2, "handbook.pdf")
    assert f"Maren Tully-{tag}" in passage["text"]
    assert (await client.get(f"/v1/documents/{doc['id']}/passages/99")).status_code == 404
    assert (await client.get(f"/v1/documents/{doc['id']}/passages/-1")).status_code == 422
    async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                 headers={"X-Dev-Tenant": "someone-else"}) as other:
        r = await other.get(f"/v1/documents/{doc['id']}/passages/{citation['chunk']}")
        assert r.status_code == 404


async def test_unsupported_type_is_415(client: httpx.AsyncClient) -> None:
    r = await upload(client, "archive.zip", b"PK\x03\x04 not indexed", "application/zip")
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    r = await upload(client, "anim.gif", b"GIF89a....", "image/gif")
    assert r.status_code == 415


async def test_oversized_document_is_413(client: httpx.AsyncClient) -> None:
    limit = 5 * 1024 * 1024
    # Just over the limit: the route counts the bytes.
    r = await upload(client, "big.txt", b"a" * (limit + 1), "text/plain")
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "document_too_large"
    # Far over it: refused from the Content-Length, before the body is read.
    r = await upload(client, "huge.txt", b"a" * (limit + 200_000), "text/plain")
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "document_too_large"


async def test_upload_to_an_unknown_conversation_is_404(client: httpx.AsyncClient) -> None:
    r = await upload(client, "a.txt", b"hello", "text/plain", conversation_id="nope")
    assert r.status_code == 404


async def test_corrupt_pdf_fails_with_a_reason_and_is_dead_lettered(
        client: httpx.AsyncClient, stack: Stack) -> None:
    r = await upload(client, "broken.pdf", CORRUPT_PDF, "application/pdf")
    assert r.status_code == 202, r.text
    doc = r.json()
    failed = await wait_until_indexed(client, doc["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("not a readable PDF"), failed

    # The stage is not stalled: the next document is indexed.
    r = await upload(client, "after.txt", b"The stage goes on after a broken file.",
                     "text/plain")
    assert (await wait_until_indexed(client, r.json()["id"]))["status"] == "ready"
    assert (await client.delete(f"/v1/documents/{r.json()['id']}")).status_code == 204

    if stack.name == "kafka":
        letter = await dead_letter_for(stack, doc["id"])
        assert letter["stage"] == "ingestion"
        assert letter["topic"].endswith("docs.ingest.v1")
        assert "not a readable PDF" in letter["error"]
    assert (await client.delete(f"/v1/documents/{doc['id']}")).status_code == 204


async def dead_letter_for(stack: Stack, document_id: str,
                          timeout: float = 60.0) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer

    topic = stack.env["CHATSTREAM_TOPIC_PREFIX"] + "chat.dlq.v1"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            async for record in consumer:
                letter: dict[str, Any] = json.loads(record.value)
                if document_id in letter["original"]:
                    return letter
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")
