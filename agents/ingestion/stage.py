"""Ingestion: a submitted document is extracted, split into passages, embedded and
upserted into the vector index, its status moving queued → indexing (with progress) →
ready, or → failed with the reason, the event then going to the dead-letter topic.

Idempotent: chunks are keyed by (document id, chunk number), so a redelivered event
rewrites the same chunks. A document deleted while it is being indexed loses whatever
this run wrote, because the status update that follows each batch finds it gone.
"""

from __future__ import annotations

import difflib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from agents.embedders.base import Embedder
from agents.ingestion.extract import ExtractionError
from agents.ingestion.fetch import FetchLimits, fetch
from agents.ingestion.sandbox import Extracted, ExtractionLimits, read_document
from kernel.errors import PoisonEvent, ProviderError, StoreUnavailable
from schemas.events import DocumentSubmitted
from schemas.stages import INGESTION
from stores.documents.base import Document, DocumentStatus, DocumentStore
from stores.vectors.base import IndexedChunk, VectorIndex
from streams.runtime.base import Emit, StageSpec

__all__ = ("IngestionDeps", "changes_of", "handle", "stage")

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
    fetch: FetchLimits = field(default_factory=FetchLimits)


_MAX_CHANGES = 8 * 1024


def changes_of(old: str, new: str) -> str:
    """What a re-fetch changed in a page's text: a unified diff of its lines without
    context, at most 8 KiB; empty when nothing changed."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after",
                                 lineterm="", n=0)
    out = "\n".join(lines)
    return out if len(out) <= _MAX_CHANGES else out[:_MAX_CHANGES].rsplit("\n", 1)[0] + \
        "\n… (more changes)"


async def _page(doc: Document, deps: IngestionDeps) -> tuple[Document, Extracted]:
    """Fetch the document's page, read its main text in the sandbox, and keep it (the
    text becomes the document's bytes, so the next re-fetch can say what changed)."""
    assert doc.url is not None
    fetched = await fetch(doc.url, deps.fetch)
    found = await read_document(fetched.data, fetched.media_type, limits=deps.limits,
                                passage_tokens=deps.passage_tokens,
                                overlap_tokens=deps.overlap_tokens, page=True)
    text = found.text or ""
    before = await deps.documents.read_blob(doc.tenant_id, doc.id)
    changes = changes_of(before.decode(errors="replace"), text) \
        if doc.fetched_at is not None and before is not None else None
    # A title the user gave is kept; otherwise (the URL stands in) the page's own.
    title = (found.title or doc.title) if doc.title == doc.url else doc.title
    if not await deps.documents.record_fetch(
            doc.tenant_id, doc.id, title=title, media_type=fetched.media_type,
            fetched_at=fetched.fetched_at, changes=changes, text=text.encode()):
        raise _Deleted
    return replace(doc, title=title, media_type=fetched.media_type), found


class _Deleted(Exception):
    """The document went while it was being fetched."""


async def _index(doc: Document, deps: IngestionDeps) -> None:
    if doc.url is not None:
        try:
            doc, found = await _page(doc, deps)
        except _Deleted:
            return
    else:
        blob = await deps.documents.read_blob(doc.tenant_id, doc.id)
        if blob is None:
            raise ExtractionError("the uploaded bytes are missing from the store")
        # Read in a limited child process: a hostile file fails alone (see sandbox.py).
        found = await read_document(blob, doc.media_type, limits=deps.limits,
                                    passage_tokens=deps.passage_tokens,
                                    overlap_tokens=deps.overlap_tokens)
    passages = list(zip(found.passages, found.pages, strict=True))
    if not passages:
        raise ExtractionError("no text found in the document")
    total = len(passages)
    # Past the cap, the first passages are indexed and the status says so.
    note = None if found.found <= total else (
        f"only the first {total} of its {found.found} passages are indexed "
        f"(CHATSTREAM_EXTRACT_MAX_PASSAGES)")

    async def progress(status: DocumentStatus, done: int) -> bool:
        alive = await deps.documents.update_status(doc.tenant_id, doc.id, status,
                                                   done=done, total=total, error=note)
        if not alive:  # deleted meanwhile: take back what this run indexed
            await deps.index.delete_document(doc.tenant_id, doc.id)
        return alive

    if not await progress("indexing", 0):
        return
    for start in range(0, total, deps.batch_size):
        batch = passages[start:start + deps.batch_size]
        vectors = await deps.embedder.embed([text_ for text_, _ in batch], doc.tenant_id)
        await deps.index.upsert([
            IndexedChunk(tenant_id=doc.tenant_id, document_id=doc.id, chunk=start + i,
                         title=doc.title, text=text_, vector=vector,
                         scope=doc.scope.key, page=page)
            for i, ((text_, page), vector) in enumerate(zip(batch, vectors, strict=True))])
        if not await progress("indexing", start + len(batch)):
            return
    # An earlier run with a smaller budget may have left chunks past the end.
    await deps.index.delete_document(doc.tenant_id, doc.id, from_chunk=total)
    if await progress("ready", total):
        log.info("indexed document %s (%s): %d passages", doc.id, doc.filename, total)


async def handle(event: DocumentSubmitted, deps: IngestionDeps) -> AsyncIterator[Emit]:
    doc = await deps.documents.get(event.tenant_id, event.document_id)
    if doc is None or (doc.status == "ready" and not event.refetch):
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
    except ExtractionError as exc:
        if event.refetch and doc.status == "ready":
            # A page that cannot be fetched again keeps what it had: still cited, the
            # reason shown on it.
            await deps.documents.update_status(
                doc.tenant_id, doc.id, "ready", done=doc.chunks_total,
                total=doc.chunks_total, error=f"the re-fetch failed: {exc}"[:1000])
            return
        await _fail(doc, deps, str(exc))
        raise PoisonEvent(f"document {doc.id}: {exc}") from exc
    except Exception as exc:
        reason = f"indexing failed: {type(exc).__name__}: {exc}"
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
