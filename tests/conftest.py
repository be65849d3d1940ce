"""Fixtures shared by every suite: the chatstream stacks, started once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.stacks import Stack, start_stack


@pytest.fixture(scope="session", params=["embedded", "kafka"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    s = start_stack(request.param, tmp_path_factory.mktemp(request.param))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def split_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack("split", tmp_path_factory.mktemp("split"))
    yield s
    s.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as c:
        yield c
