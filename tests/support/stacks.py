"""The stacks the end-to-end and fault suites run against, each a set of real chatstream processes:

- ``embedded``: ``chatstream up`` with the in-process log and SQLite;
- ``kafka``: ``chatstream up --broker kafka://… --store cassandra://… --vectors weaviate://…``
  on the real servers;
- ``split``: ``chatstream edge`` plus one ``chatstream worker STAGE`` process per stage;
- ``cluster``: ``deploy/local/cluster.py``: 2 edges behind its round-robin proxy and 2
  worker processes per stage (12 chatstream processes), on the real servers.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.cleanup import drop_keyspace, drop_together, drop_topics
from harness.fake_models import FakeModelServer
from harness.process import ChatstreamProcess, start_together, stop_together
from harness.servers import CASSANDRA, KAFKA, WEAVIATE, require
from schemas.stages import stage_names

# The split stack runs each stage of the chat and document paths in its own process.
STAGES = stage_names("chat", "documents")
# The split stack's workers: roles of one stage, and one of two (one app, one group).
SPLIT_ROLES = ("retrieval", "inference", "scoring.persistence", "ingestion")
ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "e2e" / "models.yaml"
CLUSTER = ROOT / "deploy" / "local" / "cluster.py"


@dataclass
class Stack:
    name: str
    url: str
    env: dict[str, str]
    processes: list[ChatstreamProcess] = field(default_factory=list)

    def env_for_cli(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def stop(self) -> None:
        # The cluster launcher stops its 12 children first: give it the time.
        stop_together(self.processes, 120 if self.name == "cluster" else 30)
        topics = self.env["CHATSTREAM_TOPIC_PREFIX"] if self.env.get(
            "CHATSTREAM_BROKER", "").startswith("kafka://") else ""
        drop_together(lambda: _drop_collections(self), lambda: drop_topics(topics),
                      lambda: drop_keyspace(self.env.get("CHATSTREAM_STORE", "")))

    def logs(self) -> str:
        return "\n".join(f"--- {' '.join(p.args)}\n{p.tail()}" for p in self.processes)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "CHATSTREAM_DATA_DIR": str(tmp / "data"),
        "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "3",
        "CHATSTREAM_TOPIC_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_PARTITIONS": "3",
        "CHATSTREAM_CHUNK_MAX_CHARS": "16",
        # Workers' /metrics on any free port: several run on this machine at once.
        "CHATSTREAM_WORKER_PORT": "0",
        "CHATSTREAM_LAG_INTERVAL_S": "1",
        # The deterministic model: what a test asserts of an answer must not depend on
        # whether `make llm` installed the small language model (then the default).
        "CHATSTREAM_DEFAULT_MODEL": "extractive",
        # Pages ingested by URL come from servers the tests start on 127.0.0.1.
        "CHATSTREAM_URL_FETCH_ALLOW_LOOPBACK": "true",
        **extra,
    }


def _kafka_env(tmp: Path) -> dict[str, str]:
    require(KAFKA, "Kafka")
    require(CASSANDRA, "Cassandra")
    require(WEAVIATE, "Weaviate")
    keyspace = f"e2e_{uuid.uuid4().hex[:10]}"
    return _env(tmp, CHATSTREAM_BROKER=f"kafka://{KAFKA}",
                CHATSTREAM_STORE=f"cassandra://{CASSANDRA}/{keyspace}",
                CHATSTREAM_VECTORS=f"weaviate://{WEAVIATE}/E2e{uuid.uuid4().hex[:10]}")


def _drop_collections(stack: Stack) -> None:
    """The stack's Weaviate collections (named after its VECTORS url) go with it."""
    url = stack.env.get("CHATSTREAM_VECTORS", "")
    if not url.startswith("weaviate://"):
        return
    import weaviate

    address, _, base = url.removeprefix("weaviate://").partition("/")
    host, port = address.rsplit(":", 1)
    grpc_port = int(os.environ.get("CHATSTREAM_WEAVIATE_GRPC_PORT", "50051"))
    client = weaviate.connect_to_local(host=host, port=int(port), grpc_port=grpc_port,
                                     skip_init_checks=True)
    try:
        for name in client.collections.list_all(simple=True):
            if name.startswith(f"{base}_"):
                client.collections.delete(name)
    finally:
        client.close()


def models_env(fake: FakeModelServer) -> dict[str, str]:
    """The e2e catalogue, its `fake` endpoint on the fake model server of the session."""
    return {
        "CHATSTREAM_MODELS_FILE": str(MODELS),
        "CHATSTREAM_DEFAULT_MODEL": "local",  # the e2e catalogue's name for the extractive one
        # `flaky` is the same server under another name: another provider, with a
        # circuit breaker of its own, for the tests that make the upstream fail.
        "CHATSTREAM_ENDPOINTS": json.dumps(
            {"fake": {"base_url": fake.openai_base_url, "api_key": "sk-e2e"},
             "flaky": {"base_url": fake.openai_base_url, "api_key": "sk-e2e"}}),
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
    if name == "cluster":
        launcher = ChatstreamProcess(
            ["--edges", "2", "--workers", "2", "--port", "0", "--logs", str(tmp / "logs")],
            env, tmp / "cluster.log", program=[sys.executable, str(CLUSTER)]).start(600)
        assert launcher.url
        return Stack(name, launcher.url, env, [launcher])
    workers = [ChatstreamProcess(["worker", role], env, tmp / f"{role}.log",
                                 ready="workers running") for role in SPLIT_ROLES]
    edge = ChatstreamProcess(["edge", "--port", "0"], env, tmp / "edge.log")
    start_together([*workers, edge], 180)
    assert edge.url
    return Stack(name, edge.url, env, [*workers, edge])
