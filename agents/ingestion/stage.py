"""Ingestion: a submitted document is extracted, split into passages, embedded and
upserted into the vector index, its status moving queued → indexing (with progress) →
ready, or → failed with the reason, the event then going to the dead-letter topic.

Idempotent: chunks are keyed by (document id, chunk number), so a redelivered event
rewrites the same chunks. A document deleted while it is being indexed loses whatever
this run wrote, because the status update that follows each batch finds it gone.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from agents.embedders.base import Embedder
from agents.ingestion.extract import ExtractionError
from agents.ingestion.sandbox import ExtractionLimits, read_passages
from kernel.errors import PoisonEvent, ProviderError, StoreUnavailable
from schemas.events import DocumentSubmitted
from schemas.stages import INGESTION
from stores.documents.base import Document, DocumentStatus, DocumentStore
from stores.vectors.base import IndexedChunk, VectorIndex
from streams.runtime.base import Emit, StageSpec

__all__ = ("IngestionDeps", "handle", "stage")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestionDeps:
    documents: DocumentStore
    index: VectorIndex
    embedder: Embedder
    passage_tokens: int = 200
    overlap_tokens: int = 40
    batch_size: int = 16
    limits: ExtractionLimits = field(default_factory=ExtractionLimits)


async def _index(doc: Document, deps: IngestionDeps) -> None:
    blob = await deps.documents.read_blob(doc.tenant_id, doc.id)
    if blob is None:
        raise ExtractionError("the uploaded bytes are missing from the store")
    # Read in a limited child process: a hostile file fails alone (see sandbox.py).
    passages = await read_passages(blob, doc.media_type, limits=deps.limits,
                                   passage_tokens=deps.passage_tokens,
                                   overlap_tokens=deps.overlap_tokens)
    if not passages:
        raise ExtractionError("no text found in the document")
    total = len(passages)

    async def progress(status: DocumentStatus, done: int) -> bool:
        alive = await deps.documents.update_status(doc.tenant_id, doc.id, status,
                                                   done=done, total=total)
        if not alive:  # deleted meanwhile: take back what this run indexed
            await deps.index.delete_document(doc.tenant_id, doc.id)
        return alive

    if not await progress("indexing", 0):
        return
    for start in range(0, total, deps.batch_size):
        batch = passages[start:start + deps.batch_size]
        vectors = await deps.embedder.embed(batch)
        await deps.index.upsert([
            IndexedChunk(tenant_id=doc.tenant_id, document_id=doc.id, chunk=start + i,
                         title=doc.title, text=text_, vector=vector,
                         scope=doc.scope.key)
            for i, (text_, vector) in enumerate(zip(batch, vectors, strict=True))])
        if not await progress("indexing", start + len(batch)):
            return
    # An earlier run with a smaller budget may have left chunks past the end.
    await deps.index.delete_document(doc.tenant_id, doc.id, from_chunk=total)
    if await progress("ready", total):
        log.info("indexed document %s (%s): %d passages", doc.id, doc.filename, total)


async def handle(event: DocumentSubmitted, deps: IngestionDeps) -> AsyncIterator[Emit]:
    doc = await deps.documents.get(event.tenant_id, event.document_id)
    if doc is None or doc.status == "ready":
        return  # deleted before its turn, or indexed already (a redelivery)
    try:
        await _index(doc, deps)
    except StoreUnavailable:
        raise  # an outage: the runner waits it out and tries again
    except ProviderError as exc:
        if exc.retryable:
            # The embeddings endpoint is down or throttling: like a store outage, wait
            # it out; the document stays "indexing" meanwhile.
            raise StoreUnavailable(str(exc)) from exc
        await _fail(doc, deps, str(exc))
        raise PoisonEvent(f"document {doc.id}: {exc}") from exc
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ExtractionError) else (
            f"indexing failed: {type(exc).__name__}: {exc}")
        await _fail(doc, deps, reason)
        raise PoisonEvent(f"document {doc.id}: {reason}") from exc
    return
    yield  # an async generator that emits nothing: the outcome is the document's status


async def _fail(doc: Document, deps: IngestionDeps, reason: str) -> None:
    await deps.documents.update_status(doc.tenant_id, doc.id, "failed", error=reason[:1000])
    await deps.index.delete_document(doc.tenant_id, doc.id)


def stage(deps: IngestionDeps) -> StageSpec:
    return StageSpec(INGESTION.name, INGESTION.inputs, functools.partial(handle, deps=deps),
                     concurrency=2)
