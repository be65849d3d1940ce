"""Artifacts: Kafka and Cassandra jars from Maven Central, Weaviate built with go install."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

from launcher.common import HERE, StartError, say, tail
from launcher.procs import cmdline
from launcher.service import Service

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
        rc = _run_showing_progress(cmd, log, f"{svc.name:<10} still fetching jars",
                                   fetch_log, cwd=svc.home)
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
        args = cmdline(int(entry.name))
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


PROGRESS_EVERY_S = 30


def _run_showing_progress(cmd: list[str], log: IO[str], doing: str, log_path: Path,
                          **popen: Any) -> int:
    """Run ``cmd`` with its output in ``log``, saying every PROGRESS_EVERY_S seconds that it
    is still going and what its log last said: a first build is minutes long, and silence
    that long looks like a hang."""
    started = time.monotonic()
    with subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, **popen) as proc:
        while True:
            try:
                return proc.wait(timeout=PROGRESS_EVERY_S)
            except subprocess.TimeoutExpired:
                elapsed = int(time.monotonic() - started)
                last = tail(log_path, 1).strip()[-100:]
                say(f"{doing}: {elapsed // 60}m{elapsed % 60:02d}s"
                    + (f" ({last})" if last else ""))


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
        waited_s = int(3600 - (deadline - time.monotonic()))
        if waited_s % PROGRESS_EVERY_S < 5:
            say(f"{svc.name:<10} still waiting for the running `go install`: "
                f"{waited_s // 60}m{waited_s % 60:02d}s")
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
        rc = _run_showing_progress(cmd, log, f"{svc.name:<10} still building weaviate-server",
                                   build_log, env=env)
    if rc != 0 or not binary.exists():
        raise StartError(
            f"go install failed (exit {rc}); if sum.golang.org is unreachable, retry with "
            f"GONOSUMDB=github.com/weaviate; see {build_log}:\n{tail(build_log)}"
        )
    stamp.write_text(svc.version + "\n")
    return True


