"""The document store interface. Every call is scoped by tenant.

The uploaded bytes (the blob) live in the store next to the metadata, so any ingestion
worker on any machine can read what any edge accepted: no shared disk is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from schemas.scopes import TENANT, Scope

__all__ = ("Document", "DocumentStatus", "DocumentStore")

DocumentStatus = Literal["queued", "indexing", "ready", "failed"]


@dataclass(frozen=True, slots=True)
class Document:
    tenant_id: str
    id: str
    user_id: str
    title: str
    filename: str
    media_type: str
    size: int
    created_at: datetime
    # Where its passages may be cited (schemas/scopes.py): the tenant's library by default.
    scope: Scope = TENANT
    status: DocumentStatus = "queued"
    chunks_done: int = 0
    chunks_total: int = 0
    error: str | None = None
    updated_at: datetime | None = None
    # A page ingested by URL: its address, when it was last fetched, and what changed in
    # its text at the last re-fetch (a unified diff, bounded).
    url: str | None = None
    fetched_at: datetime | None = None
    changes: str | None = None

    @property
    def conversation_id(self) -> str | None:
        return self.scope.conversation_id


class DocumentStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> tuple[bool, str]: ...

    async def create(self, document: Document, blob: bytes) -> None:
        """Store the document and its bytes; the bytes are readable once this returns."""
        ...

    async def get(self, tenant_id: str, document_id: str) -> Document | None: ...

    async def list_documents(self, tenant_id: str, limit: int = 100,
                             scope: Scope | None = None) -> list[Document]:
        """The tenant's documents, newest first; only those of ``scope`` when given."""
        ...

    async def read_blob(self, tenant_id: str, document_id: str) -> bytes | None: ...

    async def update_status(self, tenant_id: str, document_id: str, status: DocumentStatus, *,
                            done: int = 0, total: int = 0, error: str | None = None) -> bool:
        """Record indexing progress. A deleted document stays deleted: returns False and
        changes nothing."""
        ...

    async def record_fetch(self, tenant_id: str, document_id: str, *, title: str,
                           media_type: str, fetched_at: datetime, changes: str | None,
                           text: bytes) -> bool:
        """A page fetched again: its title, type, fetch time and changes, and its main
        text as the new bytes. False (and nothing changed) when it was deleted."""
        ...

    async def delete(self, tenant_id: str, document_id: str) -> bool:
        """Remove the document and its bytes; False when there was nothing to remove."""
        ...
