"""The three servers: where each keeps its files and how it is probed and found."""

from __future__ import annotations

import struct
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from launcher.common import HOST, env_port, env_str
from launcher.probes import probe_cassandra, probe_kafka, probe_weaviate
from launcher.procs import cmdline, pid_alive, pids_listening_on


@dataclass
class Service:
    name: str
    port: int
    ports: list[int]  # every port the server binds (checked before starting)
    version: str
    ready_timeout: float
    stop_timeout: float
    signature: str  # substring of the server's command line
    cache: Path
    extra: dict[str, object] = field(default_factory=dict)

    # -- paths
    @property
    def home(self) -> Path:
        return self.cache / self.name

    @property
    def data_dir(self) -> Path:
        return self.cache / "data" / self.name

    @property
    def log_dir(self) -> Path:
        return self.cache / "logs" / self.name

    @property
    def log_path(self) -> Path:  # the server's own log
        return self.log_dir / {"kafka": "server.log", "cassandra": "system.log"}.get(
            self.name, "weaviate.log"
        )

    @property
    def stdout_path(self) -> Path:  # stdout/stderr of the process (JVM errors end up here)
        return self.log_path if self.name == "weaviate" else self.log_dir / "stdout.log"

    @property
    def pid_file(self) -> Path:
        return self.cache / "run" / f"{self.name}.pid"

    @property
    def address(self) -> str:
        if self.name == "weaviate":
            return f"{HOST}:{self.port} (grpc {self.extra['grpc_port']})"
        return f"{HOST}:{self.port}"

    # -- health
    def probe(self) -> str:
        if self.name == "kafka":
            return probe_kafka(self.port)
        if self.name == "cassandra":
            return probe_cassandra(self.port)
        return probe_weaviate(self.port, int(self.extra["grpc_port"]))  # type: ignore[arg-type]

    def healthy(self) -> str | None:
        try:
            return self.probe()
        except (OSError, ValueError, struct.error, urllib.error.URLError):
            return None

    # -- processes
    def is_ours(self, pid: int) -> bool:
        return any(self.signature in arg for arg in cmdline(pid))

    def pidfile_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) and self.is_ours(pid) else None

    def find_pids(self) -> tuple[set[int], dict[int, int]]:
        """(our server pids: pid file + port owners with our signature, foreign port owners)."""
        ours: set[int] = set()
        foreign: dict[int, int] = {}
        pid = self.pidfile_pid()
        if pid:
            ours.add(pid)
        for owner, port in pids_listening_on(self.ports).items():
            if self.is_ours(owner):
                ours.add(owner)
            else:
                foreign[owner] = port
        return ours, foreign


def services(cache: Path) -> dict[str, Service]:
    return {
        "kafka": Service(
            name="kafka",
            port=env_port("CHATSTREAM_KAFKA_PORT", 9092),
            ports=[
                env_port("CHATSTREAM_KAFKA_PORT", 9092),
                env_port("CHATSTREAM_KAFKA_CONTROLLER_PORT", 9093),
            ],
            version=env_str("CHATSTREAM_KAFKA_VERSION", "3.9.1"),
            ready_timeout=90,
            stop_timeout=60,
            signature="kafka.Kafka",
            cache=cache,
            extra={
                "controller_port": env_port("CHATSTREAM_KAFKA_CONTROLLER_PORT", 9093),
                "heap": env_str("CHATSTREAM_KAFKA_HEAP", "1g"),
            },
        ),
        "cassandra": Service(
            name="cassandra",
            port=env_port("CHATSTREAM_CASSANDRA_PORT", 9042),
            ports=[
                env_port("CHATSTREAM_CASSANDRA_PORT", 9042),
                env_port("CHATSTREAM_CASSANDRA_STORAGE_PORT", 7000),
            ],
            version=env_str("CHATSTREAM_CASSANDRA_VERSION", "5.0.9"),
            ready_timeout=180,
            stop_timeout=60,
            signature="org.apache.cassandra.service.CassandraDaemon",
            cache=cache,
            extra={
                "storage_port": env_port("CHATSTREAM_CASSANDRA_STORAGE_PORT", 7000),
                "heap": env_str("CHATSTREAM_CASSANDRA_HEAP", "1G"),
            },
        ),
        "weaviate": Service(
            name="weaviate",
            port=env_port("CHATSTREAM_WEAVIATE_PORT", 8080),
            ports=[
                env_port("CHATSTREAM_WEAVIATE_PORT", 8080),
                env_port("CHATSTREAM_WEAVIATE_GRPC_PORT", 50051),
                env_port("CHATSTREAM_WEAVIATE_GOSSIP_PORT", 7946),
                env_port("CHATSTREAM_WEAVIATE_DATA_PORT", 7947),
                env_port("CHATSTREAM_WEAVIATE_RAFT_PORT", 8300),
                env_port("CHATSTREAM_WEAVIATE_RAFT_RPC_PORT", 8301),
            ],
            version=env_str("CHATSTREAM_WEAVIATE_VERSION", "v1.39.0"),
            ready_timeout=120,
            stop_timeout=30,
            signature="weaviate-server",
            cache=cache,
            extra={
                "grpc_port": env_port("CHATSTREAM_WEAVIATE_GRPC_PORT", 50051),
                "gossip_port": env_port("CHATSTREAM_WEAVIATE_GOSSIP_PORT", 7946),
                "data_port": env_port("CHATSTREAM_WEAVIATE_DATA_PORT", 7947),
                "raft_port": env_port("CHATSTREAM_WEAVIATE_RAFT_PORT", 8300),
                "raft_rpc_port": env_port("CHATSTREAM_WEAVIATE_RAFT_RPC_PORT", 8301),
            },
        ),
    }


