"""What the stages need from the outside world, handed to them by the composition root."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agents.inference.breaker import BreakerBoard, BreakerConfig
from agents.inference.control import CancelRegistry
from agents.inference.history import SummaryCache
from agents.inference.retry import RetryPolicy
from agents.providers.base import ChatProvider
from agents.retrieval.web import WebSearch
from kernel.settings import Settings
from schemas.catalogue import Catalogue
from schemas.events import GuardMode, MessageReceived, Passage
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
    """Built from settings (:meth:`of`); the parts a process shares are handed in."""

    store: ConversationStore
    catalogue: Catalogue
    providers: Mapping[str, ChatProvider]
    history_turns: int
    history_max_bytes: int
    passages_limit: int
    chunk_max_ms: float
    chunk_max_chars: int
    inference_concurrency: int
    web_results: int
    # The prompt guard's mode for tenants that have not chosen one (GUARD_MODE).
    guard_mode: GuardMode
    # Shared by every request of this worker: breakers per provider, and its cancels.
    breakers: BreakerBoard
    retry: RetryPolicy
    cancels: CancelRegistry = field(default_factory=CancelRegistry)
    summaries: SummaryCache = field(default_factory=SummaryCache)
    passages: PassageSource = field(default_factory=NoPassages)
    # Web search for messages that ask for it (WEB_SEARCH); None: off.
    web: WebSearch | None = None
    # Assistant versions, read from assistants.v1 (retrieval renders their instructions).
    assistants: AssistantRegistry = field(default_factory=lambda: AssistantRegistry(None))

    @classmethod
    def of(cls, settings: Settings, *, store: ConversationStore, catalogue: Catalogue,
           providers: Mapping[str, ChatProvider], breakers: BreakerBoard | None = None,
           passages: PassageSource | None = None, web: WebSearch | None = None,
           assistants: AssistantRegistry | None = None) -> StageDeps:
        return cls(
            store=store, catalogue=catalogue, providers=providers,
            history_turns=settings.history_turns,
            history_max_bytes=settings.history_max_bytes,
            passages_limit=settings.rag_passages, chunk_max_ms=settings.chunk_max_ms,
            chunk_max_chars=settings.chunk_max_chars,
            inference_concurrency=settings.inference_concurrency,
            web_results=settings.web_search_results, guard_mode=settings.guard_mode,
            breakers=breakers or BreakerBoard(BreakerConfig.of(settings)),
            retry=RetryPolicy.of(settings), passages=passages or NoPassages(), web=web,
            assistants=assistants or AssistantRegistry(None))
