#!/usr/bin/env python3
"""Start, stop and inspect REAL Apache Kafka, Apache Cassandra and Weaviate without Docker.

    python3 deploy/local/services.py start  [kafka|cassandra|weaviate ...]   (no names = all)
    python3 deploy/local/services.py stop   [names]
    python3 deploy/local/services.py status [names] [--json]

Artifacts come from the package registries (Kafka and Cassandra jars from Maven Central
through `mvn dependency:copy-dependencies`, Weaviate built with `go install`) and are
cached under $CHATSTREAM_CACHE_DIR (default ~/.cache/chatstream), each step skipped when
its version stamp matches. Servers run detached from the launcher (own session, output
to a log file) so they outlive it; `stop` ends them. Settings: see deploy/local/README.md.

Standard library only (Python >= 3.11).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ("kafka", "cassandra", "weaviate")
HOST = "127.0.0.1"
LOG_TAIL_LINES = 40


# --------------------------------------------------------------------------- settings


def _env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_port(name: str, default: int) -> int:
    raw = _env_str(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SystemExit(f"{name}={port} is out of range")
    return port


def cache_dir() -> Path:
    return Path(_env_str("CHATSTREAM_CACHE_DIR", "~/.cache/chatstream")).expanduser().resolve()


# ------------------------------------------------------------------------------ utils

_print_lock = threading.Lock()


def say(msg: str) -> None:
    with _print_lock:
        print(msg, flush=True)


def tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> str:
    """Last `lines` lines of `path`, from byte `offset` on (0: the whole file)."""
    try:
        with open(path, "rb") as fh:
            if 0 < offset <= path.stat().st_size:
                fh.seek(offset)
            return b"".join(deque(fh, maxlen=lines)).decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})\n"


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise two launchers working on the same server (held during start/stop)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def render(template: Path, target: Path, **values: object) -> None:
    text = string.Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(target)


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise StartError("java not found (install a JDK 17 or set JAVA_HOME)")
    return found


class StartError(Exception):
    """A server could not be started; the message says why."""


# --------------------------------------------------------------------- process lookup


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # state is the field after the parenthesised command name; Z = zombie, X = dead
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def listening_ports() -> dict[int, set[str]]:
    """port -> socket inodes in LISTEN state (IPv4 and IPv6, any address)."""
    result: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A":
                port = int(parts[1].rsplit(":", 1)[1], 16)
                result.setdefault(port, set()).add(parts[9])
    return result


def pids_listening_on(ports: list[int]) -> dict[int, int]:
    """pid -> one of `ports` it listens on."""
    table = listening_ports()
    wanted = {f"socket:[{inode}]": port for port in ports for inode in table.get(port, ())}
    found: dict[int, int] = {}
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        with fds:
            for fd in fds:
                try:
                    link = os.readlink(fd.path)
                except OSError:
                    continue
                if link in wanted:
                    found[int(entry.name)] = wanted[link]
                    break
    return found


def port_listening(port: int) -> bool:
    return port in listening_ports()


# ----------------------------------------------------------------------- wire probes


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return bytes(buf)


def probe_kafka(port: int, timeout: float = 3.0) -> str:
    """Kafka Metadata v1 request; healthy when the broker lists itself and a controller.

    Returns a short description; raises OSError/ValueError when not healthy.
    """
    client_id = b"chatstream-probe"
    # header: api_key=3 (Metadata), api_version=1, correlation_id, client_id; body: topics=[]
    body = struct.pack(">hhih", 3, 1, 7, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        resp = _recv_exact(sock, size)
    corr, n_brokers = struct.unpack_from(">ii", resp, 0)
    if corr != 7:
        raise ValueError(f"unexpected correlation id {corr}")
    pos = 8
    for _ in range(n_brokers):
        pos += 4  # node_id
        (hlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + hlen + 4  # host, port
        (rlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + max(rlen, 0)  # rack (nullable)
    (controller,) = struct.unpack_from(">i", resp, pos)
    if n_brokers < 1 or controller < 0:
        raise ValueError(f"broker not ready (brokers={n_brokers}, controller={controller})")
    return f"brokers={n_brokers} controller={controller}"


def _cql_frame(stream: int, opcode: int, body: bytes) -> bytes:
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def _cql_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def _cql_read(sock: socket.socket) -> tuple[int, bytes]:
    _version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    body = _recv_exact(sock, length)
    if opcode == 0x00:  # ERROR: [int code][string message]
        (code,) = struct.unpack_from(">i", body, 0)
        (mlen,) = struct.unpack_from(">H", body, 4)
        raise ValueError(f"CQL error {code:#x}: {body[6 : 6 + mlen].decode('utf-8', 'replace')}")
    return opcode, body


def probe_cassandra(port: int, timeout: float = 3.0) -> str:
    """CQL native protocol v4: STARTUP, then SELECT release_version FROM system.local."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        startup = struct.pack(">H", 1) + _cql_string("CQL_VERSION") + _cql_string("3.0.0")
        sock.sendall(_cql_frame(0, 0x01, startup))
        opcode, _ = _cql_read(sock)
        if opcode == 0x03:  # AUTHENTICATE: the node answers CQL; good enough
            return "version=? (authentication required)"
        if opcode != 0x02:  # READY
            raise ValueError(f"unexpected CQL opcode {opcode:#x} after STARTUP")
        query = b"SELECT release_version FROM system.local"
        # [long string query][short consistency=ONE][byte flags=0]
        sock.sendall(
            _cql_frame(1, 0x07, struct.pack(">i", len(query)) + query + struct.pack(">HB", 1, 0))
        )
        opcode, body = _cql_read(sock)
    if opcode != 0x08:
        raise ValueError(f"unexpected CQL opcode {opcode:#x} after QUERY")
    kind, flags, n_cols = struct.unpack_from(">iii", body, 0)
    if kind != 2:
        raise ValueError(f"unexpected CQL result kind {kind}")
    pos = 12

    def skip_string() -> None:
        nonlocal pos
        (n,) = struct.unpack_from(">H", body, pos)
        pos += 2 + n

    if flags & 0x0002:  # has_more_pages: paging state [bytes]
        (n,) = struct.unpack_from(">i", body, pos)
        pos += 4 + max(n, 0)
    if not flags & 0x0004:  # metadata present
        global_spec = bool(flags & 0x0001)
        if global_spec:
            skip_string()
            skip_string()
        for _ in range(n_cols):
            if not global_spec:
                skip_string()
                skip_string()
            skip_string()  # column name
            pos += 2  # type id (varchar: no extra)
    (rows,) = struct.unpack_from(">i", body, pos)
    pos += 4
    if rows < 1:
        raise ValueError("system.local is empty")
    (n,) = struct.unpack_from(">i", body, pos)
    return "version=" + body[pos + 4 : pos + 4 + n].decode()


def probe_weaviate(port: int, grpc_port: int, timeout: float = 3.0) -> str:
    url = f"http://{HOST}:{port}"
    with urllib.request.urlopen(f"{url}/v1/.well-known/ready", timeout=timeout) as resp:
        if resp.status != 200:
            raise ValueError(f"ready returned HTTP {resp.status}")
    with socket.create_connection((HOST, grpc_port), timeout=timeout):
        pass
    with urllib.request.urlopen(f"{url}/v1/meta", timeout=timeout) as resp:
        version = json.load(resp).get("version", "?")
    return f"version={version}"


# --------------------------------------------------------------------------- services


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
        return any(self.signature in arg for arg in _cmdline(pid))

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
            port=_env_port("CHATSTREAM_KAFKA_PORT", 9092),
            ports=[
                _env_port("CHATSTREAM_KAFKA_PORT", 9092),
                _env_port("CHATSTREAM_KAFKA_CONTROLLER_PORT", 9093),
            ],
            version=_env_str("CHATSTREAM_KAFKA_VERSION", "3.9.1"),
            ready_timeout=90,
            stop_timeout=60,
            signature="kafka.Kafka",
            cache=cache,
            extra={
                "controller_port": _env_port("CHATSTREAM_KAFKA_CONTROLLER_PORT", 9093),
                "heap": _env_str("CHATSTREAM_KAFKA_HEAP", "1g"),
            },
        ),
        "cassandra": Service(
            name="cassandra",
            port=_env_port("CHATSTREAM_CASSANDRA_PORT", 9042),
            ports=[
                _env_port("CHATSTREAM_CASSANDRA_PORT", 9042),
                _env_port("CHATSTREAM_CASSANDRA_STORAGE_PORT", 7000),
            ],
            version=_env_str("CHATSTREAM_CASSANDRA_VERSION", "5.0.9"),
            ready_timeout=180,
            stop_timeout=60,
            signature="org.apache.cassandra.service.CassandraDaemon",
            cache=cache,
            extra={
                "storage_port": _env_port("CHATSTREAM_CASSANDRA_STORAGE_PORT", 7000),
                "heap": _env_str("CHATSTREAM_CASSANDRA_HEAP", "1G"),
            },
        ),
        "weaviate": Service(
            name="weaviate",
            port=_env_port("CHATSTREAM_WEAVIATE_PORT", 8080),
            ports=[
                _env_port("CHATSTREAM_WEAVIATE_PORT", 8080),
                _env_port("CHATSTREAM_WEAVIATE_GRPC_PORT", 50051),
                _env_port("CHATSTREAM_WEAVIATE_GOSSIP_PORT", 7946),
                _env_port("CHATSTREAM_WEAVIATE_DATA_PORT", 7947),
                _env_port("CHATSTREAM_WEAVIATE_RAFT_PORT", 8300),
                _env_port("CHATSTREAM_WEAVIATE_RAFT_RPC_PORT", 8301),
            ],
            version=_env_str("CHATSTREAM_WEAVIATE_VERSION", "v1.39.0"),
            ready_timeout=120,
            stop_timeout=30,
            signature="weaviate-server",
            cache=cache,
            extra={
                "grpc_port": _env_port("CHATSTREAM_WEAVIATE_GRPC_PORT", 50051),
                "gossip_port": _env_port("CHATSTREAM_WEAVIATE_GOSSIP_PORT", 7946),
                "data_port": _env_port("CHATSTREAM_WEAVIATE_DATA_PORT", 7947),
                "raft_port": _env_port("CHATSTREAM_WEAVIATE_RAFT_PORT", 8300),
                "raft_rpc_port": _env_port("CHATSTREAM_WEAVIATE_RAFT_RPC_PORT", 8301),
            },
        ),
    }


# ------------------------------------------------------------------------- artifacts

_mvn_lock = threading.Lock()  # one Maven at a time: the local repository has no locking


def _stamp_ok(stamp: Path, expected: str) -> bool:
    try:
        return stamp.read_text().strip() == expected
    except OSError:
        return False


def fetch_jars(svc: Service, property_name: str) -> bool:
    """Copy the server's runtime classpath from Maven Central into <cache>/<name>/lib.

    Returns True when something was fetched, False when the stamped lib/ was reused.
    """
    pom = HERE / svc.name / "pom.xml"
    lib = svc.home / "lib"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    expected = f"{svc.name} {svc.version} pom={digest}"
    stamp = lib / ".version"
    if _stamp_ok(stamp, expected) and any(lib.glob("*.jar")):
        return False
    mvn = shutil.which("mvn")
    if not mvn:
        raise StartError("mvn not found: Maven is needed once to fetch the jars from Maven Central")
    staging = svc.home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    svc.home.mkdir(parents=True, exist_ok=True)
    svc.log_dir.mkdir(parents=True, exist_ok=True)
    fetch_log = svc.log_dir / "fetch.log"
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        f"-D{property_name}={svc.version}",
        "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    say(
        f"{svc.name:<10} fetching {svc.name} {svc.version} jars from Maven Central "
        f"(log {fetch_log})"
    )
    with _mvn_lock, open(fetch_log, "w") as log:
        rc = subprocess.run(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=svc.home,
            check=False,
        ).returncode
    if rc != 0 or not any(staging.glob("*.jar")):
        raise StartError(
            f"maven copy-dependencies failed (exit {rc}); see {fetch_log}:\n{tail(fetch_log)}"
        )
    (staging / ".version").write_text(expected + "\n")
    shutil.rmtree(lib, ignore_errors=True)
    staging.replace(lib)
    return True


def _go_installs_of_weaviate() -> list[int]:
    """Pids of running `go install ...weaviate-server...` commands (any launcher, or by hand)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        args = _cmdline(int(entry.name))
        # args[0] is `go` (or an interpreter running a `go` wrapper script)
        go_at = next((i for i, a in enumerate(args[:2]) if Path(a).name == "go"), None)
        if (
            go_at is not None
            and "install" in args[go_at + 1 :]
            and any("weaviate-server" in a for a in args)
        ):
            pids.append(int(entry.name))
    return pids


def _binary_version(binary: Path) -> str | None:
    """Module version embedded in a Go binary (`go version -m`), None when unknown."""
    go = shutil.which("go")
    if not go:
        return None
    out = subprocess.run(
        [go, "version", "-m", str(binary)], capture_output=True, text=True, check=False
    )
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod" and parts[1] == "github.com/weaviate/weaviate":
            return parts[2]
    return None


def ensure_weaviate_binary(svc: Service) -> bool:
    """<cache>/bin/weaviate-server at the wanted version; builds it with `go install` if needed.

    Returns True when it had to wait for or run a build.
    """
    bin_dir = svc.cache / "bin"
    binary = bin_dir / "weaviate-server"
    stamp = bin_dir / "weaviate-server.version"
    waited = False
    deadline = time.monotonic() + 3600
    while True:
        running = _go_installs_of_weaviate()
        if not running:
            break
        if not waited:
            say(
                f"{svc.name:<10} waiting for the running `go install` "
                f"(pid {', '.join(map(str, running))}; "
                f"log {svc.cache / 'logs' / 'weaviate-build.log'})"
            )
            waited = True
        if time.monotonic() > deadline:
            raise StartError(
                "gave up after 1 h waiting for the running `go install` of weaviate-server"
            )
        time.sleep(5)
    if binary.exists():
        if _stamp_ok(stamp, svc.version):
            return waited
        found = _binary_version(binary)
        if found in (svc.version, None):
            stamp.write_text(svc.version + "\n")
            return waited
        say(f"{svc.name:<10} {binary} is {found}, wanted {svc.version}: rebuilding")
    go = shutil.which("go")
    if not go:
        raise StartError("go not found: Go >= 1.26 is needed once to build weaviate-server")
    bin_dir.mkdir(parents=True, exist_ok=True)
    build_log = svc.cache / "logs" / "weaviate-build.log"
    build_log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(bin_dir), CGO_ENABLED="0")
    cmd = [
        go,
        "install",
        "-trimpath",
        "-ldflags=-s -w",
        f"github.com/weaviate/weaviate/cmd/weaviate-server@{svc.version}",
    ]
    say(
        f"{svc.name:<10} building weaviate-server {svc.version} with go install "
        f"(several minutes on the first run; log {build_log})"
    )
    with open(build_log, "w") as log:
        rc = subprocess.run(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        ).returncode
    if rc != 0 or not binary.exists():
        raise StartError(
            f"go install failed (exit {rc}); if sum.golang.org is unreachable, retry with "
            f"GONOSUMDB=github.com/weaviate; see {build_log}:\n{tail(build_log)}"
        )
    stamp.write_text(svc.version + "\n")
    return True


# ------------------------------------------------------------------- launch commands


def kafka_command(svc: Service) -> list[str]:
    lib = svc.home / "lib"
    conf = svc.home / "conf"
    render(
        HERE / "kafka" / "server.properties",
        conf / "server.properties",
        kafka_port=svc.port,
        controller_port=svc.extra["controller_port"],
        log_dirs=svc.data_dir,
    )
    shutil.copyfile(HERE / "kafka" / "log4j.properties", conf / "log4j.properties")
    java = java_bin()
    if not (svc.data_dir / "meta.properties").exists():
        cluster_file = svc.home / "cluster.id"
        if not cluster_file.exists():
            while True:  # a Kafka Uuid: 16 random bytes, url-safe base64 without padding
                cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
                if not cid.startswith("-"):
                    break
            cluster_file.write_text(cid + "\n")
        cid = cluster_file.read_text().strip()
        svc.data_dir.mkdir(parents=True, exist_ok=True)
        with open(svc.stdout_path, "ab") as log:
            rc = subprocess.run(
                [
                    java,
                    "-Xmx256m",
                    f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
                    f"-Dkafka.logs.dir={svc.log_dir}",
                    "-cp",
                    f"{lib}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cid,
                    "-c",
                    str(conf / "server.properties"),
                    "--ignore-formatted",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            ).returncode
        if rc != 0:
            raise StartError(f"kafka storage format failed (exit {rc}); see {svc.stdout_path}")
    heap = str(svc.extra["heap"])
    return [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-server",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:MaxInlineLevel=15",
        "-Djava.awt.headless=true",
        f"-XX:ErrorFile={svc.log_dir}/hs_err_pid%p.log",
        f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
        f"-Dkafka.logs.dir={svc.log_dir}",
        "-cp",
        f"{lib}/*",
        "kafka.Kafka",
        str(conf / "server.properties"),
    ]


def cassandra_command(svc: Service) -> list[str]:
    lib = svc.home / "lib"
    conf = svc.home / "conf"
    render(
        HERE / "cassandra" / "cassandra.yaml",
        conf / "cassandra.yaml",
        cql_port=svc.port,
        storage_port=svc.extra["storage_port"],
        storage_dir=svc.data_dir,
    )
    shutil.copyfile(HERE / "cassandra" / "logback.xml", conf / "logback.xml")
    tmp = svc.home / "tmp"
    (tmp / "jna").mkdir(parents=True, exist_ok=True)
    svc.data_dir.mkdir(parents=True, exist_ok=True)
    options = [
        line.strip()
        for line in (HERE / "cassandra" / "jvm-server.options").read_text().splitlines()
        if line.strip().startswith("-")
    ]
    jamm = sorted(lib.glob("jamm-*.jar"))
    heap = str(svc.extra["heap"])
    # Cassandra always calls mlockall(MCL_CURRENT); as root (CAP_IPC_LOCK) that succeeds and
    # faults in the whole heap first: ~5 s of a 2-core start and 1 GB RSS up front. Without the
    # capability it fails on RLIMIT_MEMLOCK, Cassandra logs a warning and carries on.
    no_mlock = (
        ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--"]
        if os.geteuid() == 0 and shutil.which("setpriv")
        else []
    )
    return [
        *no_mlock,
        java_bin(),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *options,
        *([f"-javaagent:{jamm[-1]}"] if jamm else []),
        f"-XX:HeapDumpPath={svc.log_dir}",
        f"-XX:ErrorFile={svc.log_dir}/hs_err_pid%p.log",
        f"-Djava.io.tmpdir={tmp}",
        f"-Djna.tmpdir={tmp / 'jna'}",
        f"-Dio.netty.native.workdir={tmp}",
        f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
        f"-Dcassandra.storagedir={svc.data_dir}",
        f"-Dcassandra.logdir={svc.log_dir}",
        f"-Dlogback.configurationFile={conf / 'logback.xml'}",
        "-cp",
        f"{lib}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]


def weaviate_command(svc: Service) -> tuple[list[str], dict[str, str]]:
    env_file = svc.home / "conf" / "weaviate.env"
    svc.data_dir.mkdir(parents=True, exist_ok=True)
    render(HERE / "weaviate" / "weaviate.env", env_file, data_dir=svc.data_dir, **svc.extra)
    env = dict(os.environ)
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    binary = svc.cache / "bin" / "weaviate-server"
    return [str(binary), "--host", HOST, "--port", str(svc.port), "--scheme", "http"], env


# ----------------------------------------------------------------------- start / stop


@dataclass
class Result:
    name: str
    ok: bool
    state: str
    seconds: float
    detail: str = ""


def wait_ready(svc: Service, proc: subprocess.Popen | None, pid: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        info = svc.healthy()
        if info is not None:
            return info
        if proc is not None and proc.poll() is not None:
            raise StartError(f"{svc.name} exited with code {proc.returncode} before it was ready")
        if proc is None and not pid_alive(pid):
            raise StartError(f"{svc.name} (pid {pid}) exited before it was ready")
        if time.monotonic() > deadline:
            raise StartError(f"{svc.name} not ready after {timeout:.0f} s")
        time.sleep(0.5)


def start_one(svc: Service) -> Result:
    t0 = time.monotonic()
    with file_lock(svc.cache / "run" / f"{svc.name}.lock"):
        info = svc.healthy()
        if info is not None:
            return Result(svc.name, True, "reused", time.monotonic() - t0, info)
        pid = svc.pidfile_pid()
        if pid:  # ours, alive, not (yet) healthy: another launcher may be starting it
            say(f"{svc.name:<10} pid {pid} is running but not ready yet; waiting")
            info = wait_ready(svc, None, pid, svc.ready_timeout)
            return Result(svc.name, True, "reused", time.monotonic() - t0, info)
        busy = {port: owner for owner, port in pids_listening_on(svc.ports).items()}
        busy_unknown = [p for p in svc.ports if port_listening(p) and p not in busy]
        if busy or busy_unknown:
            owners = ", ".join(
                [
                    f"{port} by pid {owner} ({' '.join(_cmdline(owner))[:120]})"
                    for port, owner in busy.items()
                ]
                + [f"{p} (owner unknown)" for p in busy_unknown]
            )
            raise StartError(
                f"{svc.name}: port(s) in use but the server does not answer: {owners}. "
                f"Stop that process or choose other ports (see deploy/local/README.md)"
            )

        # artifacts (skip-if-present with a version stamp)
        if svc.name == "kafka":
            fetch_jars(svc, "kafka.version")
        elif svc.name == "cassandra":
            fetch_jars(svc, "cassandra.version")
        else:
            ensure_weaviate_binary(svc)
        t_launch = time.monotonic()

        svc.log_dir.mkdir(parents=True, exist_ok=True)
        svc.pid_file.parent.mkdir(parents=True, exist_ok=True)
        svc.home.mkdir(parents=True, exist_ok=True)
        env = None
        if svc.name == "kafka":
            cmd = kafka_command(svc)
        elif svc.name == "cassandra":
            cmd = cassandra_command(svc)
        else:
            cmd, env = weaviate_command(svc)
        svc.extra["log_offsets"] = {svc.log_path: file_size(svc.log_path)}
        with open(svc.stdout_path, "ab") as out:
            svc.extra["log_offsets"][svc.stdout_path] = file_size(svc.stdout_path)
            out.write(
                f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} services.py start {svc.name} "
                f"{svc.version}\n".encode()
            )
            out.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=svc.home,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        svc.pid_file.write_text(f"{proc.pid}\n")
        try:
            info = wait_ready(svc, proc, proc.pid, svc.ready_timeout)
        except StartError:
            _terminate({proc.pid}, 10)
            svc.pid_file.unlink(missing_ok=True)
            raise
        return Result(
            svc.name,
            True,
            "started",
            time.monotonic() - t0,
            f"{info}, pid {proc.pid}, ready {time.monotonic() - t_launch:.1f}s after launch",
        )


def _terminate(pids: set[int], timeout: float) -> set[int]:
    """SIGTERM (process group), wait, SIGKILL. Returns the pids that had to be killed."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    killed = {p for p in pids if pid_alive(p)}
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in killed):
        time.sleep(0.1)
    return killed


def stop_one(svc: Service) -> Result:
    t0 = time.monotonic()
    with file_lock(svc.cache / "run" / f"{svc.name}.lock"):
        ours, foreign = svc.find_pids()
        if not ours:
            svc.pid_file.unlink(missing_ok=True)
            detail = "".join(
                f"; port {port} is held by pid {pid} ({' '.join(_cmdline(pid))[:80]}), not ours"
                for pid, port in foreign.items()
            )
            return Result(
                svc.name, not foreign, "down", time.monotonic() - t0, "was not running" + detail
            )
        killed = _terminate(ours, svc.stop_timeout)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(port_listening(p) for p in svc.ports):
            time.sleep(0.2)
        left = [p for p in svc.ports if port_listening(p)]
        alive = [p for p in ours if pid_alive(p)]
        svc.pid_file.unlink(missing_ok=True)
        detail = f"pid {', '.join(map(str, sorted(ours)))}" + (
            " (SIGKILL needed)" if killed else ""
        )
        if alive or left:
            return Result(
                svc.name,
                False,
                "stuck",
                time.monotonic() - t0,
                f"{detail}; still alive: {alive}, ports still listening: {left}",
            )
        return Result(svc.name, True, "stopped", time.monotonic() - t0, detail)


def run_parallel(fn: Callable[[Service], Result], svcs: list[Service]) -> list[Result]:
    results: dict[str, Result] = {}

    def worker(svc: Service) -> None:
        t0 = time.monotonic()
        try:
            res = fn(svc)
        except StartError as exc:
            res = Result(svc.name, False, "FAILED", time.monotonic() - t0, str(exc))
        except Exception as exc:
            res = Result(
                svc.name, False, "FAILED", time.monotonic() - t0, f"{type(exc).__name__}: {exc}"
            )
        results[svc.name] = res
        line = (
            f"{res.name:<10} {res.state:<8} {svc.address:<28} log={svc.log_path}  "
            f"{res.seconds:6.1f}s"
        )
        if res.ok:
            say(f"{line}  ({res.detail})" if res.detail else line)
        else:
            msg = [line, f"  error: {res.detail}"]
            # the logs as written since this launch (whole tail when nothing new was written)
            offsets: dict[Path, int] = svc.extra.get("log_offsets", {})  # type: ignore[assignment]
            for path in dict.fromkeys([svc.stdout_path, svc.log_path]):
                offset, size = offsets.get(path, 0), file_size(path)
                if size == offset:
                    if size:
                        msg.append(f"  ---- {path}: nothing written since the launch ----")
                    continue
                if size < offset:  # rotated meanwhile
                    offset = 0
                if size:
                    msg.append(f"  ---- last {LOG_TAIL_LINES} lines of {path} ----")
                    msg.append(tail(path, offset=offset).rstrip("\n"))
            say("\n".join(msg))

    threads = [threading.Thread(target=worker, args=(svc,), name=svc.name) for svc in svcs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[svc.name] for svc in svcs]


def cmd_status(svcs: list[Service], as_json: bool) -> int:
    rows = []
    for svc in svcs:
        info = svc.healthy()
        ours, _foreign = svc.find_pids()
        state = "up" if info is not None else ("starting" if ours else "down")
        rows.append(
            {
                "name": svc.name,
                "state": state,
                "address": svc.address,
                "pid": sorted(ours)[0] if ours else None,
                "log": str(svc.log_path),
                "info": info or "",
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            pid = row["pid"] if row["pid"] is not None else "-"
            print(
                f"{row['name']:<10} {row['state']:<8} {row['address']:<28} pid={pid:<8} "
                f"log={row['log']}  {row['info']}"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument(
        "names", nargs="*", metavar="name", help="kafka, cassandra, weaviate (default: all three)"
    )
    parser.add_argument("--json", action="store_true", help="status as JSON")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in NAMES]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    table = services(cache)
    svcs = [table[name] for name in (dict.fromkeys(args.names) or NAMES)]

    if args.command == "status":
        return cmd_status(svcs, args.json)
    t0 = time.monotonic()
    results = run_parallel(start_one if args.command == "start" else stop_one, svcs)
    failed = [r.name for r in results if not r.ok]
    say(
        f"{args.command}: {'ok' if not failed else 'FAILED: ' + ', '.join(failed)} "
        f"in {time.monotonic() - t0:.1f}s (cache {cache})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
