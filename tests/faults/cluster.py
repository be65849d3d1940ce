"""A chatstream deployment of several processes on the real servers, for fault tests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.cleanup import drop_keyspace, drop_together, drop_topics
from harness.process import ChatstreamProcess, start_together, stop_together
from tests.support.stacks import _kafka_env

__all__ = ("Cluster", "launcher", "start_cluster")

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    env: dict[str, str]
    edges: list[ChatstreamProcess] = field(default_factory=list)
    workers: list[ChatstreamProcess] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [e.url for e in self.edges if e.url]

    def logs(self) -> str:
        return "\n".join(f"--- {' '.join(p.args)}\n{p.tail(30)}"
                         for p in (*self.workers, *self.edges))

    def trace(self, request_ids: list[object]) -> str:
        """Every log line that names one of ``request_ids``: which stages saw them."""
        ids = [str(r) for r in request_ids]
        found = [f"{p.log_path.name}: {line}" for p in (*self.workers, *self.edges)
                 for line in p.log_path.read_text(errors="replace").splitlines()
                 if any(r in line for r in ids)]
        return "\n".join(found[-80:]) or "(no log line names them)"

    def stop(self) -> None:
        stop_together([*self.edges, *self.workers])
        drop_together(lambda: drop_topics(self.env["CHATSTREAM_TOPIC_PREFIX"]),
                      lambda: drop_keyspace(self.env["CHATSTREAM_STORE"]))


def start_cluster(tmp: Path, *, edges: int, workers: list[list[str]],
                  **env: str) -> Cluster:
    cluster = Cluster({**_kafka_env(tmp), **env})
    cluster.workers = [
        ChatstreamProcess(["worker", *stages], cluster.env,
                          tmp / f"worker{i}-{'-'.join(stages)}.log", ready="workers running")
        for i, stages in enumerate(workers)]
    cluster.edges = [ChatstreamProcess(["edge", "--port", "0"], cluster.env,
                                       tmp / f"edge{i}.log") for i in range(edges)]
    try:
        start_together([*cluster.workers, *cluster.edges], 180)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def launcher(action: str, service: str) -> None:
    """Stop or start a real server with the project's own launcher."""
    subprocess.run([sys.executable, str(ROOT / "deploy/local/services.py"), action, service],
                   check=True, timeout=300)
