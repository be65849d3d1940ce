"""The stacks the end-to-end suite runs against, each a set of real chatstream processes:

- ``embedded``: ``chatstream up`` with the in-process log and SQLite;
- ``kafka``: ``chatstream up --broker kafka://… --store cassandra://…`` on the real servers;
- ``split``: ``chatstream edge`` plus one ``chatstream worker STAGE`` process per stage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from agents.providers.fake_server import FakeModelServer
from tests.support.process import ChatstreamProcess
from tests.support.servers import CASSANDRA, KAFKA, require

STAGES = ("retrieval", "inference", "scoring", "persistence")
MODELS = Path(__file__).with_name("models.yaml")


@dataclass
class Stack:
    name: str
    url: str
    env: dict[str, str]
    processes: list[ChatstreamProcess] = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(f"--- {' '.join(p.args)}\n{p.tail()}" for p in self.processes)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "CHATSTREAM_DATA_DIR": str(tmp / "data"),
        "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "3",
        "CHATSTREAM_TOPIC_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_PARTITIONS": "3",
        "CHATSTREAM_CHUNK_MAX_CHARS": "16",
        **extra,
    }


def _kafka_env(tmp: Path) -> dict[str, str]:
    require(KAFKA, "Kafka")
    require(CASSANDRA, "Cassandra")
    keyspace = f"e2e_{uuid.uuid4().hex[:10]}"
    return _env(tmp, CHATSTREAM_BROKER=f"kafka://{KAFKA}",
                CHATSTREAM_STORE=f"cassandra://{CASSANDRA}/{keyspace}")


def models_env(fake: FakeModelServer) -> dict[str, str]:
    """The e2e catalogue, its `fake` endpoint on the fake model server of the session."""
    return {
        "CHATSTREAM_MODELS_FILE": str(MODELS),
        "CHATSTREAM_ENDPOINTS": json.dumps(
            {"fake": {"base_url": fake.openai_base_url, "api_key": "sk-e2e"}}),
    }


def start_stack(name: str, tmp: Path, extra: dict[str, str] | None = None) -> Stack:
    if name == "embedded":
        env = {**_env(tmp), **(extra or {})}
        up = ChatstreamProcess(["up", "--port", "0"], env, tmp / "up.log").start()
        assert up.url
        return Stack(name, up.url, env, [up])
    env = {**_kafka_env(tmp), **(extra or {})}
    if name == "kafka":
        up = ChatstreamProcess(["up", "--port", "0"], env, tmp / "up.log").start(180)
        assert up.url
        return Stack(name, up.url, env, [up])
    workers = [
        ChatstreamProcess(["worker", stage], env, tmp / f"{stage}.log",
                          ready="workers running").start(180)
        for stage in STAGES
    ]
    edge = ChatstreamProcess(["edge", "--port", "0"], env, tmp / "edge.log").start(180)
    assert edge.url
    return Stack(name, edge.url, env, [*workers, edge])


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModelServer]:
    """An OpenAI-compatible model server on loopback, shared by the session's stacks
    (served from a thread, so tests on any event loop can drive it)."""
    server = FakeModelServer()
    server.start_in_thread()
    yield server
    server.stop_thread()


@pytest.fixture(scope="session", params=["embedded", "kafka"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          fake_model: FakeModelServer) -> Iterator[Stack]:
    s = start_stack(request.param, tmp_path_factory.mktemp(request.param),
                    models_env(fake_model))
    yield s
    for p in reversed(s.processes):
        p.stop()


@pytest.fixture(scope="session")
def split_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack("split", tmp_path_factory.mktemp("split"))
    yield s
    for p in reversed(s.processes):
        p.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as c:
        yield c
