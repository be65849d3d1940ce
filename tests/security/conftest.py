"""The attacker's targets: real `chatstream up` processes (embedded log, SQLite), one in
dev mode, one with AUTH=jwt and a few tenants, and one AUTH=jwt with slow answers and
few streams per user, shared by the security tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.support import Edge, start_dev_edge, start_jwt_edge


@pytest.fixture(scope="package")
def dev_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    edge = start_dev_edge(tmp_path_factory.mktemp("dev-edge"))
    yield edge
    edge.stop()


@pytest.fixture(scope="package")
def jwt_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    edge = start_jwt_edge(tmp_path_factory.mktemp("jwt-edge"))
    yield edge
    edge.stop()


@pytest.fixture(scope="package")
def slow_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """AUTH=jwt with two streams per user and answers of a second a word, which stay
    open while a test holds them."""
    edge = start_jwt_edge(tmp_path_factory.mktemp("slow-jwt"),
                          CHATSTREAM_MAX_STREAMS_PER_USER="2",
                          CHATSTREAM_LOCAL_MODEL_DELAY_MS="1000")
    yield edge
    edge.stop()
