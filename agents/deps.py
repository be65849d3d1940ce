"""What the stages need from the outside world, handed to them by the composition root."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agents.inference.breaker import BreakerBoard
from agents.inference.control import CancelRegistry
from agents.inference.history import SummaryCache
from agents.inference.retry import RetryPolicy
from agents.providers.base import ChatProvider
from agents.retrieval.web import WebSearch
from schemas.catalogue import Catalogue
from schemas.events import MessageReceived, Passage
from stores.assistants.registry import AssistantRegistry
from stores.conversations.base import ConversationStore

__all__ = ("NoPassages", "PassageSource", "StageDeps")


class PassageSource(Protocol):
    async def search(self, request: MessageReceived, limit: int,
                     collections: Sequence[str] = ("library",)) -> list[Passage]:
        """Passages of the scopes the request may see; ``collections`` are those of its
        assistant (``library`` and other assistants' names)."""
        ...


class NoPassages:
    """Until documents are indexed, retrieval finds nothing."""

    async def search(self, request: MessageReceived, limit: int,
                     collections: Sequence[str] = ("library",)) -> list[Passage]:
        return []


@dataclass(frozen=True)
class StageDeps:
    store: ConversationStore
    catalogue: Catalogue
    providers: Mapping[str, ChatProvider]
    passages: PassageSource = field(default_factory=NoPassages)
    history_turns: int = 20
    history_max_bytes: int = 256 * 1024
    passages_limit: int = 5
    chunk_max_ms: float = 40.0
    chunk_max_chars: int = 64
    inference_concurrency: int = 64
    # Shared by every request of this worker: breakers per provider, and its cancels.
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cancels: CancelRegistry = field(default_factory=CancelRegistry)
    summaries: SummaryCache = field(default_factory=SummaryCache)
    # Web search for messages that ask for it (WEB_SEARCH); None: off.
    web: WebSearch | None = None
    web_results: int = 3
    # Assistant versions, read from assistants.v1 (retrieval renders their instructions).
    assistants: AssistantRegistry = field(default_factory=lambda: AssistantRegistry(None))
