"""The backend a deployment gets from its settings, and the parts a process starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatstream.backends import Backend, CassandraStores, SQLiteStores
from chatstream.compose import deployment
from kernel.settings import Settings
from schemas.stages import stage_names
from stores.accounts.sqlite import SQLiteAccountStore
from stores.documents.sqlite import SQLiteDocumentStore
from stores.idempotency import SQLiteIdempotencyStore
from streams.runtime.embedded.runtime import EmbeddedRuntime
from streams.runtime.kafka.runtime import KafkaRuntime


@pytest.fixture(autouse=True)
def _no_ambient_settings() -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("CHATSTREAM_")}
    yield
    os.environ.update(saved)


async def test_the_embedded_backend_keeps_every_store_in_the_deployment_file(
        tmp_path: Path) -> None:
    async with Backend(Settings(data_dir=tmp_path, log_durable=False)) as backend:
        assert isinstance(backend.stores, SQLiteStores)
        assert isinstance(backend.runtime, EmbeddedRuntime)
        assert isinstance(backend.stores.accounts(), SQLiteAccountStore)
        assert isinstance(backend.stores.idempotency(), SQLiteIdempotencyStore)
        assert isinstance(backend.stores.documents(), SQLiteDocumentStore)
        ok, _ = await backend.stores.conversations.ready()
        assert ok


@pytest.mark.parametrize("broker", ["embedded://", "memory://"])
def test_the_embedded_log_is_named_by_where_it_keeps_its_records(tmp_path: Path,
                                                                 broker: str) -> None:
    """``memory://`` is the embedded log's older name; the start-up line says the log is
    a file (or, not durable, only memory)."""
    backend = Backend(Settings(data_dir=tmp_path, broker=broker))
    assert isinstance(backend.runtime, EmbeddedRuntime)
    assert backend.describe_log() == f"embedded:{tmp_path / 'log.db'}"
    volatile = Backend(Settings(data_dir=tmp_path, broker=broker, log_durable=False))
    assert volatile.describe_log() == "embedded (in memory only)"


def test_a_kafka_and_cassandra_backend_connects_nothing_until_entered(tmp_path: Path) -> None:
    backend = Backend(Settings(data_dir=tmp_path, broker="kafka://127.0.0.1:1",
                               store="cassandra://127.0.0.1:1/nowhere"))
    assert isinstance(backend.stores, CassandraStores)
    assert isinstance(backend.runtime, KafkaRuntime)


async def test_a_worker_process_starts_its_stages_and_reports_its_parts(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, log_durable=False, lag_interval_s=0)
    async with deployment(settings, edge=False, stages=stage_names("chat")) as running:
        assert running.services is None
        assert set(running.checks) == {"log", "store", "vectors"}  # retrieval reads the index
        assert running.breaker_states is not None  # inference runs here
        ok, _ = await running.backend.runtime.ready()
        assert ok
