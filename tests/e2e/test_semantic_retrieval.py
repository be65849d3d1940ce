"""Retrieval by meaning, end to end on every stack (the embedded vector index, and
Weaviate on the Kafka stack): a fact uploaded in some words is found and cited when the
question asks for it in others, sharing no content word with it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from stores.vectors.text import content_words
from tests.e2e.chat import ask, new_conversation
from tests.e2e.test_knowledge import cited, upload, wait_until_indexed
from tests.support.stacks import Stack

FACT = "Every employee of the cooperative receives wages of 3,450 euros gross at month end."
QUESTION = "What salary do staff members get paid?"

# Each test in a tenant of its own: the documents a test asserts are cited are the only
# ones there, whatever other tests uploaded (or left behind when they failed).
pytestmark = pytest.mark.own_tenant


async def test_a_paraphrased_question_finds_and_cites_the_fact(
        client: httpx.AsyncClient, stack: Stack) -> None:
    assert not set(content_words(QUESTION)) & set(content_words(FACT))  # truly other words
    cid = await new_conversation(client)
    text = "\n".join([f"Handbook of the Orrelby cooperative, edition {uuid.uuid4().hex[:6]}.",
                      FACT, "The canteen serves lentil soup on Thursdays."])
    r = await upload(client, "handbook.txt", text.encode(), "text/plain",
                     conversation_id=cid, title="Orrelby handbook")
    assert r.status_code == 202, r.text
    doc = r.json()
    indexed = await wait_until_indexed(client, doc["id"])
    assert indexed["status"] == "ready", (indexed, stack.logs())

    answer = await ask(client, cid, QUESTION)
    assert answer.last.event == "done", stack.logs()
    assert [c["document_id"] for c in cited(answer)] == [doc["id"]], stack.logs()
    assert cited(answer)[0]["title"] == "Orrelby handbook"
