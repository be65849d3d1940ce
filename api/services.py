"""What the edge is built from: handed to :func:`api.app.create_app` by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from api.relay import TokenRelay
from schemas.catalogue import Catalogue
from stores.base import ConversationStore
from stores.documents.base import DocumentStore
from stores.idempotency import IdempotencyStore
from stores.vectors.base import VectorIndex
from streams.runtime.base import Runtime
from streams.settings import Settings

__all__ = ("EdgeServices",)


@dataclass(frozen=True)
class EdgeServices:
    settings: Settings
    runtime: Runtime
    store: ConversationStore
    catalogue: Catalogue
    relay: TokenRelay
    # Idempotency-Key claims, shared by every edge replica.
    idempotency: IdempotencyStore
    # Documents for RAG: uploads, their status, and deleting their indexed passages.
    documents: DocumentStore | None = None
    vectors: VectorIndex | None = None
    # The providers' circuit breakers, when inference runs in this process (`up`).
    breaker_states: Callable[[], Mapping[str, str]] | None = None
