"""The assistant store interface. Every call is scoped by tenant.

Versions are append-only: :meth:`AssistantStore.add_version` inserts a version only if
its number is free, so two admins editing at once cannot both write version N+1 (one of
them is told and tries again on the newest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.assistants import AssistantPublished, AssistantSpec

__all__ = ("AssistantStore", "AssistantVersion", "Pin", "version_of")

MAX_ASSISTANTS = 200
"""Assistants one tenant may have (archived ones included)."""


@dataclass(frozen=True, slots=True)
class AssistantVersion:
    tenant_id: str
    name: str
    version: int
    archived: bool
    author_id: str
    created_at: datetime
    spec: AssistantSpec

    def event(self) -> AssistantPublished:
        return AssistantPublished(tenant_id=self.tenant_id, name=self.name,
                                  version=self.version, archived=self.archived,
                                  author_id=self.author_id, spec=self.spec,
                                  occurred_at=self.created_at)


def version_of(event: AssistantPublished) -> AssistantVersion:
    return AssistantVersion(event.tenant_id, event.name, event.version, event.archived,
                            event.author_id, event.occurred_at, event.spec)


@dataclass(frozen=True, slots=True)
class Pin:
    """The assistant version a conversation uses."""

    tenant_id: str
    conversation_id: str
    name: str
    version: int


class AssistantStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def add_version(self, version: AssistantVersion) -> bool:
        """Insert if that number is free; ``False`` when another writer took it."""
        ...

    async def get_version(self, tenant_id: str, name: str, version: int
                          ) -> AssistantVersion | None: ...

    async def latest(self, tenant_id: str, name: str) -> AssistantVersion | None: ...

    async def list_latest(self, tenant_id: str) -> list[AssistantVersion]:
        """The newest version of each of the tenant's assistants, by name."""
        ...

    async def versions(self, tenant_id: str, name: str, limit: int = 100
                       ) -> list[AssistantVersion]:
        """The assistant's versions, newest first."""
        ...

    async def set_pin(self, pin: Pin) -> None: ...

    async def get_pin(self, tenant_id: str, conversation_id: str) -> Pin | None: ...
