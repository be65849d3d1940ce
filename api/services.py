"""What the edge is built from: handed to :func:`api.app.create_app` by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from api.assistants.service import Assistants
from api.guards.credentials import Credentials
from api.guards.ownership import OwnershipCache
from api.guards.sessions import Sessions
from api.memories import MemoryPolicy
from api.relay.tokens import TokenRelay
from api.tenant_settings import TenantSettings
from api.views.analytics import AnalyticsView
from api.views.batches import BatchView
from kernel.settings import Settings
from schemas.catalogue import Catalogue
from stores.accounts.base import AccountStore
from stores.accounts.leases import QuotaLeases
from stores.conversations.base import ConversationStore
from stores.documents.base import DocumentStore
from stores.idempotency import IdempotencyStore
from stores.vectors.base import VectorIndex
from streams.runtime.base import Runtime

__all__ = ("DecodesTokens", "EdgeServices", "TextEmbedder")


class TextEmbedder(Protocol):
    """Texts in, one vector per text out: what ``/v1/embeddings`` serves. The stages'
    ``agents.embedders.base.Embedder`` satisfies it (the edge imports no stage code)."""

    @property
    def space(self) -> str: ...

    async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]: ...


@runtime_checkable
class DecodesTokens(Protocol):
    """An embedder with its model's tokenizer here: ``/v1/embeddings`` takes token arrays
    of that tokenizer, as the OpenAI clients send them."""

    def decode(self, ids: Sequence[int]) -> str: ...


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
    # Tenants, users, keys and usage counters (AUTH=jwt; None in dev mode).
    accounts: AccountStore | None = None
    credentials: Credentials | None = None
    # Blocks of the limits' units this edge holds and spends (with accounts).
    leases: QuotaLeases | None = None
    # Who a credential names, and whether it still lives (with accounts).
    sessions: Sessions | None = None
    # The analytics group's aggregates, read from analytics.summary.v1.
    analytics: AnalyticsView | None = None
    # Batch jobs' progress and results, read from the batch topics.
    batches: BatchView | None = None
    # The providers' circuit breakers, when inference runs in this process (`up`).
    breaker_states: Callable[[], Mapping[str, str]] | None = None
    # The embedder documents are indexed with, served by /v1/embeddings.
    embedder: TextEmbedder | None = None
    # Assistants: their versions (a view of assistants.v1) and conversations' pins.
    assistants: Assistants | None = None
    # Users' long-term memories and the switches that turn memory off.
    memories: MemoryPolicy | None = None
    # The catalogue's models this install cannot serve, each with why (for the page).
    unavailable: Mapping[str, str] = field(default_factory=dict)
    # Conversation owners, remembered briefly so a message POST rarely asks the store.
    owners: OwnershipCache = field(default_factory=OwnershipCache)
    # Tenants' own settings (the prompt guard's mode), remembered briefly likewise.
    tenant_settings: TenantSettings = field(default_factory=TenantSettings)
