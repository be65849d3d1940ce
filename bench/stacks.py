"""The servers the side-by-side suite compares, each started as real processes in front of
the same fake upstream, with the pid of every process that does its work.

- ``direct``: nothing of ours; the load generator calls the fake upstream itself.
- ``litellm``: LiteLLM's proxy (one worker), from the pinned bench/requirements-litellm.txt.
- ``embedded``: ``chatstream up`` (in-process log, SQLite).
- ``kafka``: the production shape on Kafka + Cassandra: ``chatstream edge``, a retrieval
  worker, an inference worker and one worker for the other stages.
- ``kafka-up``: ``chatstream up --broker kafka://...`` (edge and stages in one process).
- ``kafka-coalesced``: the production shape at chatstream's default coalescing of tokens
  into frames (the others relay one frame per upstream chunk).

Every chatstream stack relays each upstream chunk as one frame
(``CHATSTREAM_CHUNK_MAX_CHARS=1``), as LiteLLM does, so all servers send the client the
same chunking; the load generator counts frames per answer to show it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, START_S, UNCAPPED, Proc, free_port
from bench.cost import service_pids
from harness.cleanup import drop_keyspace, drop_topics
from harness.servers import CASSANDRA, KAFKA, require
from harness.venvs import ensure_venv

__all__ = ("STACKS", "Stack", "ensure_litellm", "start_stack")

STACKS = ("direct", "litellm", "embedded", "kafka", "kafka-coalesced", "kafka-up")
MODELS = ROOT / "tests/e2e/models.yaml"
LITELLM_REQUIREMENTS = ROOT / "bench/requirements-litellm.txt"
# The production shape's workers: the two stages on an answer's path get a process each.
KAFKA_WORKERS = (("retrieval",), ("inference",),
                 ("scoring", "persistence", "ingestion", "analytics", "batches",
                  "batch-results"))


@dataclass
class Stack:
    name: str
    base_url: str
    model: str
    api_key: str = "bench"
    pids: dict[str, int] = field(default_factory=dict)
    """Every process doing the stack's work, by role."""
    tree: set[str] = field(default_factory=set)
    """Roles charged for their child processes too."""
    shared: set[str] = field(default_factory=set)
    """Roles that are shared servers (the JVMs): reported net of their idle rate too."""
    ours: tuple[str, ...] = ()
    """The roles that make up the server's cost per answer (not upstream, not load)."""
    _stop: list[Proc | subprocess.Popen[bytes]] = field(default_factory=list)
    _cleanup: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        for p in reversed(self._stop):
            if isinstance(p, Proc):
                p.stop()
            else:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if "prefix" in self._cleanup:
            drop_topics(self._cleanup["prefix"])
        if "store" in self._cleanup:
            drop_keyspace(self._cleanup["store"])


def ensure_litellm() -> Path:
    """LiteLLM's proxy command, from the project's pinned requirements, in a virtual
    environment of its own (its pins differ from chatstream's)."""
    return ensure_venv(LITELLM_REQUIREMENTS, "litellm-venv") / "bin/litellm"


def _litellm(model_url: str, tmp: Path) -> Stack:
    import httpx

    exe = ensure_litellm()
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(json.dumps({"model_list": [{
        "model_name": "fake",
        "litellm_params": {"model": "openai/fake-model", "api_base": model_url,
                           "api_key": "bench"}}]}))
    # LiteLLM refuses to start without a master key (1.80+); the client presents it.
    key = f"sk-bench-{uuid.uuid4().hex}"
    with (tmp / "litellm.log").open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [str(exe), "--config", str(config), "--port", str(port), "--host", "127.0.0.1",
             "--num_workers", "1"],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true",
                 "LITELLM_MASTER_KEY": key, "LITELLM_TELEMETRY": "False",
                 # Its bundled price map, not a download: loopback only.
                 "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_S
    while True:
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            how = f"exited ({proc.returncode})" if proc.poll() is not None \
                else f"not ready in {START_S:g} s"
            proc.kill()
            proc.wait()
            raise RuntimeError(f"litellm {how}; see {tmp / 'litellm.log'}")
        time.sleep(0.5)
    return Stack("litellm", f"{url}/v1", "fake", key, {"litellm": proc.pid}, {"litellm"},
                 ours=("litellm",), _stop=[proc])


def _chatstream_env(kind: str, tmp: Path, model_url: str, partitions: int,
                    chunk_per_frame: bool = True) -> dict[str, str]:
    env = {
        "CHATSTREAM_DATA_DIR": str(tmp / kind),
        "CHATSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_LOG_LEVEL": "WARNING",
        "CHATSTREAM_WORKER_PORT": "0",
        "CHATSTREAM_MODELS_FILE": str(MODELS),
        "CHATSTREAM_ENDPOINTS": json.dumps({"fake": {"base_url": model_url,
                                                     "api_key": "bench"}}),
        "CHATSTREAM_INFERENCE_CONCURRENCY": "512",
        # Every client of the load generator is the same dev user.
        **UNCAPPED,
    }
    if chunk_per_frame:
        # One frame per upstream chunk, as LiteLLM relays them: the same chunking.
        env["CHATSTREAM_CHUNK_MAX_CHARS"] = "1"
    if kind != "embedded":
        require(KAFKA, "Kafka")
        require(CASSANDRA, "Cassandra")
        env |= {"CHATSTREAM_BROKER": f"kafka://{KAFKA}",
                "CHATSTREAM_STORE": f"cassandra://{CASSANDRA}/bench_{uuid.uuid4().hex[:8]}",
                "CHATSTREAM_PARTITIONS": str(partitions)}
    return env


def _jvms(stack: Stack) -> None:
    found = service_pids()
    missing = {"kafka", "cassandra"} - set(found)
    if missing:
        raise RuntimeError(f"no pid found for {', '.join(sorted(missing))}: the Kafka rows "
                           "need the JVMs' CPU (`make services`)")
    for name, pid in found.items():
        stack.pids[name] = pid
        stack.shared.add(name)
    stack.ours = (*stack.ours, *sorted(found))


def start_stack(kind: str, tmp: Path, model_url: str, partitions: int = 12, *,
                chunk_per_frame: bool = True) -> Stack:
    """``chunk_per_frame``: one SSE frame per upstream chunk (the suite's comparison);
    off, chatstream's default coalescing."""
    if kind == "direct":
        return Stack("direct", model_url, "fake-model")
    if kind == "litellm":
        return _litellm(model_url, tmp)
    if kind == "kafka-coalesced":
        chunk_per_frame = False
    env = _chatstream_env(kind, tmp, model_url, partitions, chunk_per_frame)
    stack = Stack(kind, "", "fake")
    stack._cleanup = {"prefix": env["CHATSTREAM_TOPIC_PREFIX"],
                      "store": env.get("CHATSTREAM_STORE", "")}
    try:
        if kind in ("embedded", "kafka-up"):
            up = Proc("chatstream.cli", ["up", "--port", "0"], tmp / f"{kind}.log",
                      "listening on", env, START_S)
            stack._stop.append(up)
            stack.pids["chatstream up"] = up.proc.pid
            stack.tree.add("chatstream up")
            url = up.url
        else:
            edge = Proc("chatstream.cli", ["edge", "--port", "0"], tmp / "edge.log",
                        "listening on", env, START_S)
            stack._stop.append(edge)
            stack.pids["edge"] = edge.proc.pid
            stack.tree.add("edge")
            url = edge.url

            def worker(stages: tuple[str, ...]) -> Proc:
                return Proc("chatstream.cli", ["worker", *stages],
                            tmp / f"worker-{stages[0]}.log", "workers running", env, START_S)

            # Started side by side (each joins its own consumer group); every one that
            # started is kept for stop() even when another failed.
            with ThreadPoolExecutor(len(KAFKA_WORKERS)) as pool:
                futures = [(s, pool.submit(worker, s)) for s in KAFKA_WORKERS]
            failed: BaseException | None = None
            for stages, future in futures:
                if (exc := future.exception()) is not None:
                    failed = exc
                    continue
                proc = future.result()
                stack._stop.append(proc)
                role = f"worker {stages[0]}" if len(stages) == 1 else "worker (others)"
                stack.pids[role] = proc.proc.pid
                stack.tree.add(role)
            if failed is not None:
                raise failed
        stack.ours = tuple(stack.pids)
        if kind != "embedded":
            _jvms(stack)
    except BaseException:
        stack.stop()
        raise
    assert url
    stack.base_url = f"{url.rstrip('/')}/v1"
    return stack
