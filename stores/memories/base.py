"""The memory store interface. Every call is scoped by tenant and user: a memory is its
user's alone.

Memories are also in the vector index (for recall by meaning), under the scope key
:func:`memory_scope` and the document id :func:`memory_document`; deleting one removes
it from both (the index first, so a failure leaves it listed for a retry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from stores.vectors.base import IndexedChunk

__all__ = ("MAX_MEMORIES", "MEMORY_TITLE", "Memory", "MemorySettings", "MemoryStore",
           "memory_chunk", "memory_document", "memory_scope")

MEMORY_TITLE = "Memory"
"""The title a recalled memory is cited with."""

MAX_MEMORIES = 200
"""Memories one user keeps at most; the stage proposes no more past it."""


def memory_scope(user_id: str) -> str:
    """The vector index scope key of a user's memories (never a document scope's key)."""
    return f"memory:{user_id}"


def memory_document(memory_id: str) -> str:
    """The vector index document id of one memory (and its citation's ``document_id``)."""
    return f"memory:{memory_id}"


@dataclass(frozen=True, slots=True)
class Memory:
    tenant_id: str
    user_id: str
    id: str
    text: str
    created_at: datetime
    updated_at: datetime
    origin: Literal["extracted", "user"] = "extracted"
    # The message it was learnt from (None: the user wrote it).
    source_conversation_id: str | None = None
    source_message_id: str | None = None


def memory_chunk(memory: Memory, vector: Sequence[float]) -> IndexedChunk:
    """A memory as the vector index keeps it: one chunk in its user's memory scope."""
    return IndexedChunk(tenant_id=memory.tenant_id, document_id=memory_document(memory.id),
                        chunk=0, title=MEMORY_TITLE, text=memory.text, vector=vector,
                        scope=memory_scope(memory.user_id))


@dataclass(frozen=True, slots=True)
class MemorySettings:
    tenant_enabled: bool = True
    user_paused: bool = False

    @property
    def active(self) -> bool:
        return self.tenant_enabled and not self.user_paused


class MemoryStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def add(self, memory: Memory) -> None: ...

    async def get(self, tenant_id: str, user_id: str, memory_id: str) -> Memory | None: ...

    async def list_memories(self, tenant_id: str, user_id: str,
                            limit: int = MAX_MEMORIES) -> list[Memory]:
        """The user's memories, newest first."""
        ...

    async def update(self, tenant_id: str, user_id: str, memory_id: str, text: str,
                     at: datetime) -> bool: ...

    async def delete(self, tenant_id: str, user_id: str, memory_id: str) -> bool: ...

    async def settings(self, tenant_id: str, user_id: str) -> MemorySettings: ...

    async def set_paused(self, tenant_id: str, user_id: str, paused: bool) -> None: ...

    async def set_tenant_enabled(self, tenant_id: str, enabled: bool) -> None: ...
