"""Fixtures shared by every suite: the chatstream stacks, started once per session."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest

from harness.fake_models import FakeModelServer
from harness.process import ChatstreamProcess
from harness.servers import CASSANDRA, KAFKA, WEAVIATE
from tests.support.needs import MARKERS, needs
from tests.support.stacks import Stack, models_env, start_stack


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModelServer]:
    """An OpenAI-compatible model server on loopback, shared by the session's stacks
    (served from a thread, so tests on any event loop can drive it). Shared: each reply a
    test plans names the marker its question carries, so no other test's call takes it."""
    server = FakeModelServer(shared=True)
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


def _fixture_functions(item: pytest.Item) -> Iterator[object]:
    """The functions of the fixtures ``item`` uses. A fixture with parameters is left out:
    each of its parameters carries the marks of what it needs (``pytest.param``)."""
    defs = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        found = defs.name2fixturedefs.get(name) if defs is not None else None
        if found and found[-1].params is None and name != "_needs_are_marked":
            yield found[-1].func


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test is marked with what it needs beyond the test process
    (tests/support/needs.py). Tests of the multi-process cluster (its proxy, its two
    edges) only run on the cluster stack: on the others they are deselected, not
    skipped."""
    for item in items:
        for marker in sorted(needs(item, _fixture_functions(item))):
            item.add_marker(marker)
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on = callspec.params.get("stack") if callspec is not None else None
        (drop if item.get_closest_marker("cluster_only") and on != "cluster" else keep
         ).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# The session's shared stacks, by key, while they run; each is stopped right after the
# last test that uses it (its session fixture would keep it running, idle but heart-beating
# and sampling lag, through the rest of the suite).
_RUNNING: dict[str, Stack] = {}
_LAST_USER: dict[str, str] = {}


def _shared_stacks(item: pytest.Item) -> Iterator[str]:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "stack" in callspec.params:
        yield f"stack[{callspec.params['stack']}]"
    if "split_stack" in getattr(item, "fixturenames", ()):
        yield "split_stack"


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:  # final order: after selection and fixture reordering
        for key in _shared_stacks(item):
            _LAST_USER[key] = item.nodeid


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, None, None]:
    yield
    for key in _shared_stacks(item):
        if _LAST_USER.get(key) == item.nodeid and key in _RUNNING:
            _RUNNING.pop(key).stop()


@contextmanager
def _shared(key: str, s: Stack) -> Iterator[Stack]:
    _RUNNING[key] = s
    try:
        yield s
    finally:
        if _RUNNING.pop(key, None) is not None:
            s.stop()


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          fake_model: FakeModelServer) -> Iterator[Stack]:
    with _shared(f"stack[{request.param}]", start_stack(
            request.param, tmp_path_factory.mktemp(request.param),
            models_env(fake_model))) as s:
        yield s


@pytest.fixture(scope="session")
def split_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("split")
    # Every process writes its spans to a file of its own (tests/e2e/test_observability).
    with _shared("split_stack", start_stack(
            "split", tmp, {"CHATSTREAM_TRACE_EXPORTER": f"jsonl:{tmp / 'spans'}"})) as s:
        yield s


@pytest.fixture
async def client(stack: Stack, request: pytest.FixtureRequest
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """The dev user's client; under ``own_tenant``, in a tenant of the test's own, so what
    other tests upload or said to memory is neither cited nor recalled in its answers."""
    own = request.node.get_closest_marker("own_tenant") is not None
    headers = {"X-Dev-Tenant": f"t-{uuid.uuid4().hex[:10]}"} if own else {}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30, headers=headers) as c:
        yield c


@pytest.fixture
async def oai(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official OpenAI client pointed at the stack (no retries: a test sees each reply)."""
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev", max_retries=0,
                                timeout=60)
    yield client
    await client.close()


_SERVER_PORTS = {int(a.rsplit(":", 1)[1]) for a in (KAFKA, CASSANDRA, WEAVIATE)}


@pytest.fixture(autouse=True)
def _needs_are_marked(request: pytest.FixtureRequest,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """In ``make check`` (CHATSTREAM_CHECK=1) a test marked as needing nothing is stopped
    the moment it reaches for a server or starts chatstream: what it needs was not found
    in its code (tests/support/needs.py), so ``make check`` would not be what it says."""
    if not os.environ.get("CHATSTREAM_CHECK"):
        return
    marked = {m.name for m in request.node.iter_markers()} & set(MARKERS)
    why = "needs.py found no need of {}: add its helper to tests/support/needs.NAMES"
    if "stack" not in marked:
        def start(self: ChatstreamProcess, *args: object, **kwargs: object) -> None:
            pytest.fail(why.format("chatstream processes"))
        monkeypatch.setattr(ChatstreamProcess, "start", start)
    if not marked & {"kafka", "cassandra", "weaviate"}:
        connect = socket.socket.connect

        def guarded(self: socket.socket, address: object) -> None:
            if isinstance(address, tuple) and address[1] in _SERVER_PORTS:
                pytest.fail(why.format(f"a server (port {address[1]})"))
            connect(self, address)  # type: ignore[arg-type]
        monkeypatch.setattr(socket.socket, "connect", guarded)
