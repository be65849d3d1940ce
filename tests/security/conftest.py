"""The attacker's targets: real `chatstream up` processes (embedded log, SQLite), one in
dev mode and one with AUTH=jwt and a few tenants, shared by the security tests."""

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
