"""The composition root: builds the runtime, store, stages and edge from settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlparse

import uvicorn

from agents import inference, persistence, retrieval, scoring
from agents.deps import NoPassages, StageDeps
from agents.providers.base import ChatProvider
from agents.providers.local import LocalProvider
from api.app import create_app
from api.relay import TokenRelay
from api.services import EdgeServices
from chatstream.knowledge import Knowledge, build_knowledge
from stores.base import ConversationStore
from stores.idempotency import IdempotencyStore, SQLiteIdempotencyStore
from stores.sqlite import SQLiteConversationStore
from streams.catalogue import load_catalogue
from streams.errors import ConfigurationError
from streams.runtime.base import Runtime, StageSpec
from streams.runtime.kafka import KafkaRuntime
from streams.runtime.memory import MemoryRuntime
from streams.settings import Settings

__all__ = ("STAGES", "build_runtime", "build_store", "run")

log = logging.getLogger("chatstream")

STAGES = ("retrieval", "inference", "scoring", "persistence", "ingestion")
# What needs the documents, the embedder and the vector index.
_KNOWLEDGE_STAGES = frozenset({"retrieval", "ingestion"})


def build_runtime(settings: Settings, client_id: str = "chatstream") -> Runtime:
    if settings.broker.startswith("kafka://"):
        return KafkaRuntime(
            settings.kafka_bootstrap, topic_prefix=settings.topic_prefix,
            partitions=settings.partitions, replication=settings.replication_factor,
            retries=settings.stage_retries, data_dir=settings.data_dir, client_id=client_id,
            session_timeout_s=settings.session_timeout_s,
        )
    return MemoryRuntime(partitions=settings.partitions, topic_prefix=settings.topic_prefix,
                         retries=settings.stage_retries)


def build_store(settings: Settings) -> ConversationStore:
    url = settings.store_url
    if url.startswith("cassandra://"):
        from stores.cassandra import CassandraConversationStore
        return CassandraConversationStore.from_url(url)
    return SQLiteConversationStore.from_url(url)


def build_idempotency(settings: Settings, store: ConversationStore) -> IdempotencyStore:
    if isinstance(store, SQLiteConversationStore):
        return SQLiteIdempotencyStore(store.path)
    from stores.cassandra import CassandraConversationStore
    from stores.idempotency import CassandraIdempotencyStore
    assert isinstance(store, CassandraConversationStore)
    return CassandraIdempotencyStore(store)


def build_providers(settings: Settings) -> dict[str, ChatProvider]:
    return {"local": LocalProvider(delay_ms=settings.local_model_delay_ms)}


def build_stages(names: Sequence[str], settings: Settings, store: ConversationStore,
                 knowledge: Knowledge | None = None) -> list[StageSpec]:
    unknown = sorted(set(names) - set(STAGES))
    if unknown:
        raise ConfigurationError(f"unknown stage(s) {', '.join(unknown)}; "
                                 f"choose from {', '.join(STAGES)}")
    deps = StageDeps(
        store=store, catalogue=load_catalogue(settings.models_file),
        providers=build_providers(settings), history_turns=settings.history_turns,
        chunk_max_ms=settings.chunk_max_ms, chunk_max_chars=settings.chunk_max_chars,
        inference_concurrency=settings.inference_concurrency,
        passages=knowledge.passages() if knowledge is not None else NoPassages(),
        passages_limit=settings.rag_passages,
    )
    factories: dict[str, Callable[[], StageSpec]] = {
        "retrieval": lambda: retrieval.stage(deps),
        "inference": lambda: inference.stage(deps),
        "scoring": scoring.stage,
        "persistence": lambda: persistence.stage(store),
        "ingestion": lambda: _need(knowledge).ingestion_stage(),
    }
    return [factories[n]() for n in names]


def _need(knowledge: Knowledge | None) -> Knowledge:
    if knowledge is None:
        raise ConfigurationError("the ingestion stage needs the document parts")
    return knowledge


class _QuietServer(uvicorn.Server):
    """Signals are handled by :func:`run`, which stops the stages too; uvicorn must not
    take them over (it would re-raise SIGINT after its own shutdown)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_edge(settings: Settings, services: EdgeServices,
                      stop: asyncio.Event) -> None:
    config = uvicorn.Config(create_app(services), host=settings.host, port=settings.port,
                            log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise ConfigurationError(f"the edge could not listen on {settings.host}:"
                                     f"{settings.port}")
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    print(f"chatstream edge listening on http://{host}:{port}/", flush=True)
    await stop.wait()
    server.should_exit = True
    await task


async def run(settings: Settings, *, edge: bool, stages: Sequence[str]) -> None:
    """Run the edge and/or stages until SIGINT or SIGTERM, then shut down in order:
    stop taking work, let in-flight work end, close clients."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = build_store(settings)
    await store.start()
    runtime = build_runtime(settings, client_id="chatstream-edge" if edge else "chatstream")
    relay: TokenRelay | None = None
    knowledge: Knowledge | None = None
    try:
        if edge or _KNOWLEDGE_STAGES & set(stages):
            knowledge = build_knowledge(settings, store)
            await knowledge.start()
        await runtime.start(build_stages(stages, settings, store, knowledge))
        kind = urlparse(settings.broker).scheme
        print(f"chatstream: log={kind} store={urlparse(settings.store_url).scheme} "
              f"stages={','.join(stages) or '-'}", flush=True)
        if knowledge is not None:
            print(f"chatstream: {knowledge.describe()}", flush=True)
        if edge:
            relay = TokenRelay(runtime, lookback_s=settings.relay_lookback_s)
            await relay.start()
            idempotency = build_idempotency(settings, store)
            await idempotency.start()
            services = EdgeServices(settings=settings, runtime=runtime, store=store,
                                    catalogue=load_catalogue(settings.models_file),
                                    relay=relay, idempotency=idempotency,
                                    documents=knowledge.documents if knowledge else None,
                                    vectors=knowledge.index if knowledge else None)
            await _serve_edge(settings, services, stop)
        else:
            print("chatstream workers running", flush=True)
            await stop.wait()
    finally:
        print("chatstream: shutting down", file=sys.stderr, flush=True)
        if relay is not None:
            await relay.stop()
        with contextlib.suppress(Exception):
            await runtime.stop()
        if knowledge is not None:
            await knowledge.close()
        await store.close()
