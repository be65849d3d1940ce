"""The ingestion stage over the real embedded parts (SQLite documents, embedded index):
status and progress, idempotence, deletion mid-way, failures and the dead-letter topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from agents.embedders.hashing import HashingEmbedder
from agents.ingestion.sandbox import ExtractionLimits
from agents.ingestion.stage import IngestionDeps, handle, stage
from kernel.errors import PoisonEvent, ProviderError, StoreUnavailable
from schemas.events import DeadLettered, DocumentSubmitted, utcnow
from schemas.topics import DLQ, INGEST
from stores.documents.base import Document, DocumentStatus
from stores.documents.sqlite import SQLiteDocumentStore
from stores.vectors.embedded import EmbeddedVectorIndex
from streams.codec import decode
from streams.runtime.embedded.log import partition_for
from streams.runtime.embedded.runtime import EmbeddedRuntime
from tests.support.documents import CORRUPT_PDF, make_pdf, make_pdf_bomb

EMBEDDER = HashingEmbedder(dimensions=128)
TEXT = "\n\n".join(f"Paragraph {n}: the Zorblat reactor log entry number {n} says all is "
                   "well with the molten salt pumps and the cooling loop." for n in range(12))


class RecordingDocuments(SQLiteDocumentStore):
    """The SQLite store, remembering every status it was given."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.history: list[tuple[DocumentStatus, int, int]] = []

    async def update_status(self, tenant_id: str, document_id: str, status: DocumentStatus, *,
                            done: int = 0, total: int = 0, error: str | None = None) -> bool:
        self.history.append((status, done, total))
        return await super().update_status(tenant_id, document_id, status, done=done,
                                           total=total, error=error)


@dataclass
class Parts:
    documents: RecordingDocuments
    index: EmbeddedVectorIndex
    deps: IngestionDeps


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    documents = RecordingDocuments(tmp_path / "chatstream.db")
    index = EmbeddedVectorIndex(tmp_path / "vectors.db", EMBEDDER.space)
    await documents.start()
    await index.start()
    deps = IngestionDeps(documents=documents, index=index, embedder=EMBEDDER,
                         passage_tokens=40, overlap_tokens=10, batch_size=4)
    try:
        yield Parts(documents, index, deps)
    finally:
        await index.close()
        await documents.close()


async def submit(parts: Parts, data: bytes, media_type: str = "text/plain",
                 filename: str = "log.txt") -> DocumentSubmitted:
    doc = Document(tenant_id="t1", id=f"doc-{len(data)}-{media_type.replace('/', '-')}",
                   user_id="u1", title=filename, filename=filename, media_type=media_type,
                   size=len(data), created_at=utcnow())
    await parts.documents.create(doc, data)
    return DocumentSubmitted(tenant_id="t1", document_id=doc.id, filename=filename,
                             media_type=media_type, blob_ref=f"store:documents/{doc.id}",
                             user_id="u1")


async def run(event: DocumentSubmitted, deps: IngestionDeps) -> None:
    async for _ in handle(event, deps):
        raise AssertionError("ingestion emits nothing")


async def test_indexes_with_progress_until_ready(parts: Parts) -> None:
    event = await submit(parts, TEXT.encode())
    await run(event, parts.deps)
    doc = await parts.documents.get("t1", event.document_id)
    assert doc is not None and doc.status == "ready"
    total = doc.chunks_total
    assert total > 4 and doc.chunks_done == total
    assert await parts.index.count("t1", event.document_id) == total
    assert parts.documents.history[0] == ("indexing", 0, total)
    done = [d for s, d, _ in parts.documents.history if s == "indexing"]
    assert done == sorted(done) and len(done) == 1 + -(-total // 4)
    assert parts.documents.history[-1] == ("ready", total, total)


async def test_redelivery_changes_nothing(parts: Parts) -> None:
    event = await submit(parts, TEXT.encode())
    await run(event, parts.deps)
    count = await parts.index.count("t1", event.document_id)
    await parts.documents.update_status("t1", event.document_id, "queued")
    await run(event, parts.deps)  # the same event again, as after a crash before the commit
    assert await parts.index.count("t1", event.document_id) == count


async def test_pdf_is_indexed(parts: Parts) -> None:
    event = await submit(parts, make_pdf(["The Quillfeather bridge is cobalt green."]),
                         "application/pdf", "bridge.pdf")
    await run(event, parts.deps)
    [vector] = await EMBEDDER.embed(["colour of the Quillfeather bridge"])
    hits = await parts.index.search("t1", "colour of the Quillfeather bridge", vector,
                                    scope="", limit=3)
    assert hits[0].document_id == event.document_id
    assert "cobalt green" in hits[0].text
    assert hits[0].title == "bridge.pdf"


async def test_corrupt_pdf_fails_with_a_reason_and_is_poison(parts: Parts) -> None:
    event = await submit(parts, CORRUPT_PDF, "application/pdf", "broken.pdf")
    with pytest.raises(PoisonEvent, match="not a readable PDF"):
        await run(event, parts.deps)
    doc = await parts.documents.get("t1", event.document_id)
    assert doc is not None and doc.status == "failed"
    assert doc.error is not None and doc.error.startswith("not a readable PDF")


async def test_empty_text_fails(parts: Parts) -> None:
    event = await submit(parts, b" \n\n ")
    with pytest.raises(PoisonEvent, match="no text found"):
        await run(event, parts.deps)


async def test_a_document_deleted_meanwhile_leaves_no_chunks(parts: Parts) -> None:
    event = await submit(parts, TEXT.encode())
    deleting = parts.documents

    class DeletingEmbedder:
        space = EMBEDDER.space
        calls = 0

        async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]:
            self.calls += 1
            if self.calls == 2:  # the user deletes it while the second batch is embedded
                await deleting.delete("t1", event.document_id)
            return await EMBEDDER.embed(texts)

        async def close(self) -> None:
            return None

    await run(event, replace(parts.deps, embedder=DeletingEmbedder()))
    assert await parts.index.count("t1", event.document_id) == 0
    assert await parts.documents.get("t1", event.document_id) is None


async def test_a_deleted_document_is_skipped(parts: Parts) -> None:
    event = await submit(parts, TEXT.encode())
    await parts.documents.delete("t1", event.document_id)
    await run(event, parts.deps)
    assert parts.documents.history == []


async def test_an_embeddings_outage_is_waited_out_not_failed(parts: Parts) -> None:
    class DownEmbedder:
        space = EMBEDDER.space

        async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]:
            raise ProviderError("embeddings", "connection refused", retryable=True)

        async def close(self) -> None:
            return None

    event = await submit(parts, TEXT.encode())
    with pytest.raises(StoreUnavailable):
        await run(event, replace(parts.deps, embedder=DownEmbedder()))
    doc = await parts.documents.get("t1", event.document_id)
    assert doc is not None and doc.status == "indexing"


async def test_the_runtime_dead_letters_a_corrupt_pdf_and_goes_on(parts: Parts) -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start([stage(parts.deps)])
    try:
        bad = await submit(parts, CORRUPT_PDF, "application/pdf", "broken.pdf")
        good = await submit(parts, TEXT.encode())
        await rt.publisher.publish(INGEST, bad.document_id, bad)
        await rt.publisher.publish(INGEST, good.document_id, good)
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            dead = [r for p in rt.log.partitions(DLQ.name) for r in p]
            doc = await parts.documents.get("t1", good.document_id)
            if dead and doc is not None and doc.status == "ready":
                break
            assert asyncio.get_running_loop().time() < deadline, "not processed in time"
            await asyncio.sleep(0.05)
        [record] = dead
        letter = decode(DLQ, record.value)
        assert isinstance(letter, DeadLettered)
        assert letter.stage == "ingestion"
        assert letter.error_type == "PoisonEvent"
        assert "not a readable PDF" in letter.error
        assert bad.document_id in letter.original
    finally:
        await rt.stop()


async def test_a_pdf_bomb_fails_alone_at_the_memory_limit(parts: Parts) -> None:
    """70 MB of page content inflated from a 100 KB upload: the reader is stopped at its
    memory limit and the document says why, instead of the worker's memory going."""
    deps = replace(parts.deps, limits=ExtractionLimits(cpu_s=60, memory_mb=200, wall_s=300))
    event = await submit(parts, make_pdf_bomb(70), "application/pdf", "bomb.pdf")
    with pytest.raises(PoisonEvent, match="200 MB of memory"):
        await run(event, deps)
    doc = await parts.documents.get("t1", event.document_id)
    assert doc is not None and doc.status == "failed"
    assert doc.error == "reading the document needs more than its 200 MB of memory"
    assert await parts.index.count("t1", event.document_id) == 0


async def test_a_document_that_spins_fails_alone_while_the_worker_goes_on(
        parts: Parts) -> None:
    """A PDF that costs minutes of CPU to read is stopped at its CPU limit and
    dead-lettered; meanwhile the event loop keeps running (a Kafka consumer keeps
    heart-beating) and another document is indexed."""
    deps = replace(parts.deps, limits=ExtractionLimits(cpu_s=2, memory_mb=1024, wall_s=300))
    rt = EmbeddedRuntime(partitions=2)
    await rt.start([stage(deps)])
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        bad = await submit(parts, make_pdf_bomb(70), "application/pdf", "spin.pdf")
        good = await submit(parts, TEXT.encode())
        # Keys on different partitions, so the two documents are read side by side.
        good_key = next(k for k in (f"good-{n}" for n in range(20))
                        if partition_for(k.encode(), 2, 0) != partition_for(b"bad", 2, 0))
        await rt.publisher.publish(INGEST, "bad", bad)
        await rt.publisher.publish(INGEST, good_key, good)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 240
        while (doc := await parts.documents.get("t1", good.document_id)) is None \
                or doc.status != "ready":
            assert loop.time() < deadline, "the good document was not indexed"
            await asyncio.sleep(0.05)
        spinning = await parts.documents.get("t1", bad.document_id)
        assert spinning is not None and spinning.status == "queued"  # still being read
        ticks_then = ticks
        while not (dead := [r for p in rt.log.partitions(DLQ.name) for r in p]):
            assert loop.time() < deadline, "the spinning document never failed"
            await asyncio.sleep(0.05)
        assert ticks - ticks_then > 20, "the event loop stood still while the PDF was read"
        failed = await parts.documents.get("t1", bad.document_id)
        assert failed is not None and failed.status == "failed"
        assert failed.error == "reading the document used more than its 2 s of CPU"
        letter = decode(DLQ, dead[0].value)
        assert isinstance(letter, DeadLettered)
        assert "2 s of CPU" in letter.error and bad.document_id in letter.original
    finally:
        ticker.cancel()
        await rt.stop()
