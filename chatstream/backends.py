"""One backend per deployment, picked once from settings: the log (its runtime, topic
admin and consumer lag) and the store family (conversations and the stores that share
its file or session). Nothing else asks which kind of log or store it has."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

from kernel.settings import Settings
from stores.accounts.base import AccountStore
from stores.assistants.base import AssistantStore
from stores.conversations.base import ConversationStore
from stores.documents.base import DocumentStore
from stores.idempotency import IdempotencyStore
from stores.memories.base import MemoryStore
from streams.runtime.base import Runtime
from streams.runtime.embedded.runtime import EmbeddedRuntime
from streams.runtime.kafka.lag import KafkaLag
from streams.runtime.lag import LagSource, lag_monitor
from streams.runtime.runner import StageRetry

__all__ = ("Backend", "CassandraStores", "SQLiteStores", "StoreFamily")


class StoreFamily(Protocol):
    """The conversation store owns the connection (file or session) its siblings share:
    it starts first and closes last."""

    @property
    def conversations(self) -> ConversationStore: ...

    def accounts(self) -> AccountStore: ...

    def idempotency(self) -> IdempotencyStore: ...

    def documents(self) -> DocumentStore: ...

    def assistants(self) -> AssistantStore: ...

    def memories(self) -> MemoryStore: ...


class SQLiteStores:
    """Every store in the one SQLite file of the deployment (documents: their own)."""

    def __init__(self, settings: Settings) -> None:
        from stores.conversations.sqlite import SQLiteConversationStore

        self._settings = settings
        self._conversations = SQLiteConversationStore.from_url(settings.store_url)

    @property
    def conversations(self) -> ConversationStore:
        return self._conversations

    def accounts(self) -> AccountStore:
        from stores.accounts.sqlite import SQLiteAccountStore
        return SQLiteAccountStore(self._conversations.path)

    def idempotency(self) -> IdempotencyStore:
        from stores.idempotency import SQLiteIdempotencyStore
        return SQLiteIdempotencyStore(self._conversations.path)

    def documents(self) -> DocumentStore:
        from stores.documents.sqlite import SQLiteDocumentStore
        return SQLiteDocumentStore.from_url(self._settings.store_url)

    def assistants(self) -> AssistantStore:
        from stores.assistants.sqlite import SQLiteAssistantStore
        return SQLiteAssistantStore(self._conversations.path)

    def memories(self) -> MemoryStore:
        from stores.memories.sqlite import SQLiteMemoryStore
        return SQLiteMemoryStore(self._conversations.path)


class CassandraStores:
    """Every store in one keyspace over the conversation store's session."""

    def __init__(self, settings: Settings) -> None:
        # The driver is imported only where Cassandra is configured.
        from stores.conversations.cassandra import CassandraConversationStore

        self._conversations = CassandraConversationStore.from_url(settings.store_url)

    @property
    def conversations(self) -> ConversationStore:
        return self._conversations

    def accounts(self) -> AccountStore:
        from stores.accounts.cassandra import CassandraAccountStore
        return CassandraAccountStore(self._conversations.session)

    def idempotency(self) -> IdempotencyStore:
        from stores.idempotency import CassandraIdempotencyStore
        return CassandraIdempotencyStore(self._conversations.session)

    def documents(self) -> DocumentStore:
        from stores.documents.cassandra import CassandraDocumentStore
        return CassandraDocumentStore(self._conversations.session)

    def assistants(self) -> AssistantStore:
        from stores.assistants.cassandra import CassandraAssistantStore
        return CassandraAssistantStore(self._conversations.session)

    def memories(self) -> MemoryStore:
        from stores.memories.cassandra import CassandraMemoryStore
        return CassandraMemoryStore(self._conversations.session)


class Backend:
    """``async with Backend(settings) as backend``: the conversation store is open inside;
    the runtime is started with the process's stages and stopped on the way out."""

    def __init__(self, settings: Settings, *, client_id: str = "chatstream") -> None:
        self.settings = settings
        self.kafka = settings.broker.startswith("kafka://")
        self.stores: StoreFamily = (
            CassandraStores(settings) if settings.store_url.startswith("cassandra://")
            else SQLiteStores(settings))
        self._client_id = client_id
        # The embedded log is its own lag source; Kafka's lag needs a client of its own.
        self._embedded: EmbeddedRuntime | None = None
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        """Built on first use: a process that only needs the stores opens no log."""
        if self._runtime is None:
            self._runtime = self._build_runtime(self._client_id)
        return self._runtime

    def _build_runtime(self, client_id: str) -> Runtime:
        s = self.settings
        if self.kafka:
            from streams.runtime.kafka.runtime import KafkaRuntime
            return KafkaRuntime(
                s.kafka_bootstrap, topic_prefix=s.topic_prefix, partitions=s.partitions,
                replication=s.replication_factor, retry=StageRetry.of(s),
                data_dir=s.data_dir, client_id=client_id,
                session_timeout_s=s.session_timeout_s, retention=s.log_retention)
        self._embedded = EmbeddedRuntime(
            partitions=s.partitions, topic_prefix=s.topic_prefix, retry=StageRetry.of(s),
            path=self._log_path(),
            retention=s.log_retention, cache_bytes=s.log_cache_mb << 20)
        return self._embedded

    def _log_path(self) -> Path | None:
        s = self.settings
        return s.data_dir / "log.db" if s.log_durable else None

    def describe_log(self) -> str:
        """What the log is, for the start-up line."""
        if self.kafka:
            return self.settings.broker
        path = self._log_path()
        return f"embedded:{path}" if path else "embedded (in memory only)"

    async def __aenter__(self) -> Backend:
        await self.stores.conversations.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._runtime is not None:
                with contextlib.suppress(Exception):
                    await self._runtime.stop()
        finally:
            await self.stores.conversations.close()

    @contextlib.asynccontextmanager
    async def lag_reported(self, stages: Sequence[str]) -> AsyncIterator[None]:
        """Consumer lag of ``stages`` into the metrics every LAG_INTERVAL_S while inside:
        read from the embedded log itself, or from Kafka's group offsets."""
        interval = self.settings.lag_interval_s
        if interval <= 0:
            yield
            return
        source: LagSource
        kafka_lag: KafkaLag | None = None
        self.runtime  # noqa: B018  (built now: the embedded one is its own lag source)
        if self._embedded is not None:
            source = self._embedded
        else:
            source = kafka_lag = KafkaLag(self.settings.kafka_bootstrap,
                                          self.settings.topic_prefix)
            await kafka_lag.start()
        task = asyncio.create_task(lag_monitor(source, stages, interval))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if kafka_lag is not None:
                with contextlib.suppress(Exception):
                    await kafka_lag.stop()
