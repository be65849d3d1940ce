"""The vector index interface. Every call is scoped by tenant; a search looks at the
documents of one knowledge scope (``schemas.scopes``: the tenant's library, one
conversation's attachments, ...), given by its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ("DEFAULT_ALPHA", "Hit", "IndexedChunk", "VectorIndex")

# Weight of the vector side of hybrid search; 1 - alpha goes to BM25 (as in Weaviate).
# RAG_ALPHA's default: measured best with the minilm embedder (bench/retrieval_eval.py).
DEFAULT_ALPHA = 0.75


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """One passage of a document, with its embedding. (document_id, chunk) is its key."""

    tenant_id: str
    document_id: str
    chunk: int
    title: str
    text: str
    vector: Sequence[float]
    scope: str = ""
    """The key of the document's scope (:attr:`schemas.scopes.Scope.key`)."""
    page: int | None = None
    """The page the passage starts on, for a paged document (PDF)."""


@dataclass(frozen=True, slots=True)
class Hit:
    document_id: str
    chunk: int
    title: str
    text: str
    score: float
    # Cosine similarity of the passage's vector to the query's, whatever found it.
    similarity: float
    scope: str = ""
    page: int | None = None


class VectorIndex(Protocol):
    @property
    def description(self) -> str:
        """What this index is and where, for logs and readiness."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> tuple[bool, str]: ...

    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Insert or replace by (tenant, document id, chunk number): idempotent."""
        ...

    async def delete_document(self, tenant_id: str, document_id: str,
                              from_chunk: int = 0) -> None:
        """Remove the document's chunks numbered ``from_chunk`` and up (all by default)."""
        ...

    async def count(self, tenant_id: str, document_id: str) -> int:
        """How many chunks of the document are indexed."""
        ...

    async def passage(self, tenant_id: str, document_id: str, chunk: int) -> Hit | None:
        """One passage of a document, as a hit that scored nothing (to show it)."""
        ...

    async def search(self, tenant_id: str, query: str, vector: Sequence[float], *,
                     scope: str, limit: int, alpha: float = DEFAULT_ALPHA) -> list[Hit]:
        """Hybrid search (BM25 and vector, relative score fusion) of the documents of
        ``scope`` (a scope's key), best first. Nothing is cut by relevance here: the
        caller decides."""
        ...
