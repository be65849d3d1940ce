"""Fixtures shared by every suite: the chatstream stacks, started once per session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from harness.fake_models import FakeModelServer
from tests.support.stacks import Stack, models_env, start_stack


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModelServer]:
    """An OpenAI-compatible model server on loopback, shared by the session's stacks
    (served from a thread, so tests on any event loop can drive it)."""
    server = FakeModelServer()
    server.start_in_thread()
    yield server
    server.stop_thread()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The end-to-end tests run on each stack named in CHATSTREAM_E2E_STACKS (default
    ``embedded,kafka``; ``cluster`` is the multi-process run of deploy/local/cluster.py)."""
    if "stack" in metafunc.fixturenames:
        if any(m.args and m.args[0] == "stack" for m in metafunc.definition.iter_markers(
                "parametrize")):
            return  # the test names its stack itself (e.g. Kafka-only tests)
        names = os.environ.get("CHATSTREAM_E2E_STACKS", "embedded,kafka").split(",")
        metafunc.parametrize("stack", [n.strip() for n in names if n.strip()],
                             indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the multi-process cluster (its proxy, its two edges) only run on the
    cluster stack: on the others they are deselected, not skipped."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on = callspec.params.get("stack") if callspec is not None else None
        (drop if item.get_closest_marker("cluster_only") and on != "cluster" else keep
         ).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          fake_model: FakeModelServer) -> Iterator[Stack]:
    s = start_stack(request.param, tmp_path_factory.mktemp(request.param),
                    models_env(fake_model))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def split_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("split")
    # Every process writes its spans to a file of its own (tests/e2e/test_observability).
    s = start_stack("split", tmp, {"CHATSTREAM_TRACE_EXPORTER": f"jsonl:{tmp / 'spans'}"})
    yield s
    s.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as c:
        yield c


@pytest.fixture
async def oai(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official OpenAI client pointed at the stack (no retries: a test sees each reply)."""
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev", max_retries=0,
                                timeout=60)
    yield client
    await client.close()
