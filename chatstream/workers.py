"""The worker side of the composition root: the stages a process runs and what they
need (providers, breakers, web search), built from settings and started on the runtime."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agents import batches, persistence, scoring
from agents.analytics import stage as analytics
from agents.deps import StageDeps
from agents.inference import stage as inference
from agents.inference.breaker import BreakerBoard, BreakerConfig
from agents.memory.model import ModelFacts, Proposer
from agents.providers.base import ChatProvider
from agents.providers.extractive import ExtractiveProvider
from agents.providers.groq_sdk import GroqProvider
from agents.providers.llama_cpp import LlamaCppProvider, llama_cpp_installed
from agents.providers.openai_sdk import OpenAIProvider
from agents.retrieval import stage as retrieval
from agents.retrieval.web import WebSearch, build_web_search
from chatstream.knowledge import Knowledge
from kernel.catalogue import load_catalogue
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from schemas.catalogue import Catalogue
from schemas.stages import STAGE_NAMES
from stores.accounts.base import AccountStore
from stores.assistants.registry import AssistantRegistry
from stores.conversations.base import ConversationStore
from stores.memories.base import MemoryStore
from streams.runtime.base import Runtime, StageSpec

__all__ = ("StageParts", "build_breakers", "build_providers", "build_stages", "stage_parts")

log = logging.getLogger("chatstream")


def build_providers(settings: Settings) -> dict[str, ChatProvider]:
    """The providers that can be reached with the keys and endpoints in settings, by
    provider key; a model whose provider is missing here is skipped by failover."""
    timeout = settings.provider_timeout_s
    providers: dict[str, ChatProvider] = {
        "extractive": ExtractiveProvider(delay_ms=settings.local_model_delay_ms)}
    if llama_cpp_installed():
        providers["llama-cpp"] = LlamaCppProvider(concurrency=settings.llm_concurrency,
                                                  threads=settings.llm_threads or None)
    if settings.openai_api_key is not None:
        providers["openai"] = OpenAIProvider(
            "openai", base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(), timeout_s=timeout)
    if settings.groq_api_key is not None:
        providers["groq"] = GroqProvider(
            base_url=settings.groq_base_url,
            api_key=settings.groq_api_key.get_secret_value(), timeout_s=timeout)
    for name, endpoint in settings.endpoints.items():
        key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
        providers[name] = OpenAIProvider(name, base_url=endpoint.base_url, api_key=key,
                                         timeout_s=timeout)
    return providers


def web_search(settings: Settings) -> WebSearch | None:
    key = settings.web_search_api_key
    return build_web_search(settings.web_search, key.get_secret_value() if key else None,
                            settings.web_search_timeout_s)


async def close_providers(providers: dict[str, ChatProvider]) -> None:
    for provider in providers.values():
        aclose = getattr(provider, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def _warn_unreachable(catalogue: Catalogue, providers: dict[str, ChatProvider]) -> None:
    missing = [f"{m.name} ({m.provider_key})" for m in catalogue.models
               if m.provider_key not in providers]
    if missing:
        log.warning("models without a configured provider (no key or endpoint in settings),"
                    " skipped by failover: %s", ", ".join(missing))


def build_breakers(settings: Settings, providers: Sequence[str] = ()) -> BreakerBoard:
    board = BreakerBoard(BreakerConfig.of(settings))
    for key in providers:  # known from the start: /readyz and the gauge show them all
        board.get(key)
    return board


def build_stages(names: Sequence[str], settings: Settings, store: ConversationStore,
                 knowledge: Knowledge | None = None, catalogue: Catalogue | None = None,
                 providers: dict[str, ChatProvider] | None = None,
                 accounts: AccountStore | None = None,
                 breakers: BreakerBoard | None = None,
                 web: WebSearch | None = None,
                 assistants: AssistantRegistry | None = None,
                 memories: MemoryStore | None = None) -> list[StageSpec]:
    unknown = sorted(set(names) - set(STAGE_NAMES))
    if unknown:
        raise ConfigurationError(f"unknown stage(s) {', '.join(unknown)}; "
                                 f"choose from {', '.join(STAGE_NAMES)}")
    deps = StageDeps.of(
        settings, store=store, catalogue=catalogue or load_catalogue(settings.models_file),
        providers=providers if providers is not None else build_providers(settings),
        passages=knowledge.passages() if knowledge is not None else None,
        web=web, assistants=assistants, breakers=breakers or build_breakers(settings))
    factories: dict[str, Callable[[], StageSpec]] = {
        "retrieval": lambda: retrieval.stage(deps),
        "inference": lambda: inference.stage(deps),
        "scoring": scoring.stage,
        "persistence": lambda: persistence.stage(persistence.PersistenceDeps(store, accounts)),
        "ingestion": lambda: _need(knowledge).ingestion_stage(),
        "memory": lambda: _need(knowledge).memory_stage(
            _need_store(memories), _fact_model(settings, deps.catalogue, deps.providers)),
        "batches": lambda: batches.feeder_stage(
            batches.FeederDeps(in_flight=settings.batch_in_flight)),
        "batch-results": batches.results_stage,
        "analytics": lambda: analytics.stage(analytics.AnalyticsDeps(
            group=settings.analytics_group, lead_threshold=settings.analytics_lead_threshold,
            flush_s=settings.analytics_flush_ms / 1000)),
    }
    return [factories[n]() for n in names]


def _fact_model(settings: Settings, catalogue: Catalogue,
                providers: Mapping[str, ChatProvider]) -> Proposer | None:
    """The model that proposes memory facts (MEMORY_MODEL), or None: the rules."""
    if not settings.memory_model:
        return None
    spec = catalogue.get(settings.memory_model)
    if spec is None:
        raise ConfigurationError(f"MEMORY_MODEL {settings.memory_model!r} is not a model "
                                 "of the catalogue")
    provider = providers.get(spec.provider_key)
    if provider is None:
        raise ConfigurationError(f"MEMORY_MODEL {spec.name}: its provider "
                                 f"{spec.provider_key} is not configured")
    return ModelFacts(provider, spec)


def _need_store(memories: MemoryStore | None) -> MemoryStore:
    if memories is None:
        raise ConfigurationError("the memory stage needs the memory store")
    return memories


def _need(knowledge: Knowledge | None) -> Knowledge:
    if knowledge is None:
        raise ConfigurationError("the ingestion stage needs the document parts")
    return knowledge


@dataclass(frozen=True)
class StageParts:
    """What a process's stages use beyond the stores: model providers and their breakers
    (inference), web search (retrieval). Made before anything starts and closed after
    the stages stop, so an answer under way at shutdown keeps its provider."""

    providers: dict[str, ChatProvider]
    breakers: BreakerBoard
    web: WebSearch | None

    @property
    def breaker_states(self) -> Callable[[], Mapping[str, str]] | None:
        return self.breakers.states if self.providers else None

    async def start(self, settings: Settings, runtime: Runtime, stages: Sequence[str], *,
                    catalogue: Catalogue, store: ConversationStore,
                    knowledge: Knowledge | None, accounts: AccountStore | None,
                    assistants: AssistantRegistry | None,
                    memories: MemoryStore | None = None) -> None:
        """Build ``stages`` and start them on ``runtime``, one consumer group for them all
        (the log's clients only, for a process with no stage)."""
        await runtime.start(build_stages(stages, settings, store, knowledge, catalogue,
                                         self.providers, accounts, self.breakers, self.web,
                                         assistants, memories))

    async def aclose(self) -> None:
        await close_providers(self.providers)
        if self.web is not None:
            await self.web.aclose()


def stage_parts(settings: Settings, stages: Sequence[str], catalogue: Catalogue) -> StageParts:
    # The memory stage asks a model only when MEMORY_MODEL names one.
    wanted = "inference" in stages or ("memory" in stages and bool(settings.memory_model))
    providers = build_providers(settings) if wanted else {}
    if providers:
        _warn_unreachable(catalogue, providers)
    return StageParts(providers, build_breakers(settings, list(providers)),
                      web_search(settings) if "retrieval" in stages else None)
