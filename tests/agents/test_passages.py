"""Retrieval's passages: the conversation's documents first, then the tenant's; only
relevant passages of ready documents; chat goes on when the index is down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.embedders.hashing import HashingEmbedder
from agents.retrieval.passages import IndexedPassages, speaks_of_user
from kernel.errors import StoreUnavailable
from schemas.events import MessageReceived, utcnow
from schemas.scopes import TENANT, Scope
from stores.documents.base import Document, DocumentStatus
from stores.documents.sqlite import SQLiteDocumentStore
from stores.memories.base import Memory, memory_chunk
from stores.vectors.base import Hit, IndexedChunk
from stores.vectors.embedded import EmbeddedVectorIndex

EMBEDDER = HashingEmbedder(dimensions=256)


@dataclass
class Parts:
    documents: SQLiteDocumentStore
    index: EmbeddedVectorIndex
    source: IndexedPassages


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    documents = SQLiteDocumentStore(tmp_path / "chatstream.db")
    index = EmbeddedVectorIndex(tmp_path / "vectors.db", EMBEDDER.space)
    await documents.start()
    await index.start()
    try:
        yield Parts(documents, index, IndexedPassages(index, EMBEDDER, documents))
    finally:
        await index.close()
        await documents.close()


async def add(parts: Parts, doc_id: str, texts: list[str], *, conversation_id: str | None = None,
              status: DocumentStatus = "ready") -> None:
    await parts.documents.create(Document(
        tenant_id="t1", id=doc_id, user_id="u1", title=f"{doc_id}.md", filename=f"{doc_id}.md",
        media_type="text/markdown", size=1, created_at=utcnow(),
        scope=Scope.conversation(conversation_id) if conversation_id else TENANT,
        status=status), b"x")
    vectors = await EMBEDDER.embed(texts)
    await parts.index.upsert([
        IndexedChunk(tenant_id="t1", document_id=doc_id, chunk=i, title=f"{doc_id}.md", text=t,
                     vector=v, scope=conversation_id or "")
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))])


def message(text: str, conversation_id: str = "conv-1", *,
            memory: bool = False) -> MessageReceived:
    return MessageReceived(tenant_id="t1", request_id="r1", message_id="m1",
                           conversation_id=conversation_id, user_id="u1", text=text,
                           model="local", memory=memory)


async def test_conversation_documents_come_before_tenant_wide_ones(parts: Parts) -> None:
    await add(parts, "wide", ["The ferry to Skarholm leaves at seven from pier two."])
    await add(parts, "mine", ["Our ferry booking for Skarholm is on the seven o'clock boat."],
              conversation_id="conv-1")
    await add(parts, "theirs", ["The Skarholm ferry is cancelled for them."],
              conversation_id="conv-2")
    found = await parts.source.search(message("When does the Skarholm ferry leave?"), 5)
    assert [p.document_id for p in found] == ["mine", "wide"]
    assert found[0].title == "mine.md" and found[0].chunk == 0
    assert "seven" in found[1].text


async def test_unrelated_messages_cite_nothing(parts: Parts) -> None:
    await add(parts, "wide", ["The ferry to Skarholm leaves at seven from pier two."])
    assert await parts.source.search(message("My favourite colour is teal."), 5) == []


async def test_only_ready_documents_are_cited(parts: Parts) -> None:
    await add(parts, "indexing", ["Skarholm ferry timetable, draft."], status="indexing")
    await add(parts, "ready", ["Skarholm ferry timetable, final."])
    found = await parts.source.search(message("Skarholm ferry timetable"), 5)
    assert [p.document_id for p in found] == ["ready"]
    await parts.documents.delete("t1", "ready")  # the chunks linger: never cited anyway
    assert await parts.source.search(message("Skarholm ferry timetable"), 5) == []


async def test_limit_counts_both_scopes(parts: Parts) -> None:
    await add(parts, "mine", [f"Skarholm note {i}." for i in range(4)], conversation_id="conv-1")
    await add(parts, "wide", [f"Skarholm memo {i}." for i in range(4)])
    found = await parts.source.search(message("Skarholm"), 5)
    assert [p.document_id for p in found] == ["mine"] * 4 + ["wide"]


async def test_an_index_outage_means_no_passages_not_no_answer(parts: Parts) -> None:
    class DownIndex(EmbeddedVectorIndex):
        async def search(self, tenant_id: str, query: str, vector: Sequence[float], *,
                         scope: str, limit: int, alpha: float = 0.5) -> list[Hit]:
            raise StoreUnavailable("weaviate unreachable")

    source = IndexedPassages(DownIndex(Path("/nonexistent"), "x"), EMBEDDER, parts.documents)
    assert await source.search(message("Skarholm"), 5) == []


class _CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dimensions=256)
        self.calls = 0

    async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]:
        self.calls += 1
        return await super().embed(texts)


async def test_a_tenant_without_documents_is_not_embedded_for_and_a_first_upload_is_found(
        parts: Parts) -> None:
    """The question is embedded only when there is something to find; the tenant's first
    document is searched from the next message on (no stale "no documents" kept)."""
    embedder = _CountingEmbedder()
    source = IndexedPassages(parts.index, embedder, parts.documents)
    assert await source.search(message("Where is the lighthouse?"), 3) == []
    assert embedder.calls == 0
    await add(parts, "d1", ["The lighthouse stands on Quorvane point."])
    found = await source.search(message("Where is the lighthouse?"), 3)
    assert [p.document_id for p in found] == ["d1"] and embedder.calls == 1


async def remember(parts: Parts, memory_id: str, text: str) -> None:
    at = utcnow()
    [vector] = await EMBEDDER.embed([text])
    await parts.index.upsert([memory_chunk(Memory(
        tenant_id="t1", user_id="u1", id=memory_id, text=text, created_at=at, updated_at=at),
        vector)])


async def test_a_memory_is_recalled_only_into_a_message_about_its_user(parts: Parts) -> None:
    """A fact about the user is cited when the question is about them, never because a
    question about something else shares a word with it (nor beside a document)."""
    await remember(parts, "teal", "Favourite colour is teal")
    await add(parts, "bridge", ["The Quillfeather bridge is painted cobalt green."])
    mine = await parts.source.search(message("What is my favourite colour?", memory=True), 5)
    assert [(p.document_id, p.title) for p in mine] == [("memory:teal", "Memory")]
    about_a_bridge = await parts.source.search(
        message("What colour is the Quillfeather bridge painted?", memory=True), 5)
    assert [p.document_id for p in about_a_bridge] == ["bridge"]
    temporary = await parts.source.search(message("What is my favourite colour?"), 5)
    assert temporary == []


@pytest.mark.parametrize(("text", "personal"), [
    ("Which service do I work on?", True), ("What's my name?", True),
    ("Recommend a restaurant for me.", True), ("Je m'appelle comment ?", True),
    ("Wie heiße ich?", True), ("What colour is the bridge painted?", False),
    ("Who is the keeper of the Quorvane lighthouse?", False),
])
def test_a_message_about_its_user_is_told_by_first_person_words(
        text: str, personal: bool) -> None:
    assert speaks_of_user(text) is personal
