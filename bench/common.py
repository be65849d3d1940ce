"""Shared by the bench scripts: percentiles, tables, plots, and starting stacks."""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Sequence
from pathlib import Path

from harness.process import ChatstreamProcess
from harness.servers import CASSANDRA, KAFKA, require

__all__ = ("ROOT", "UNCAPPED", "pct", "start_stack", "summary", "table")

ROOT = Path(__file__).resolve().parents[1]
# How long a chatstream process may take to be ready: slow on a busy 2-core machine
# (imports, consumer groups joining).
START_S = 300.0


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pct(values, 0.5), "p95": pct(values, 0.95),
            "p99": pct(values, 0.99), "mean": statistics.fmean(values) if values else 0.0}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[f"{c:.1f}" if isinstance(c, float) else str(c)
                                           for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# The load comes from one dev user: the per-user and per-edge caps would measure
# refusals instead of work.
UNCAPPED = {"CHATSTREAM_MAX_STREAMS_PER_USER": "1000000",
            "CHATSTREAM_MAX_CONCURRENT_REQUESTS": "1000000"}

# The pipeline is what these benchmarks measure: the deterministic extractive model answers,
# whether or not `make llm` installed the language model (then the catalogue's default).
EXTRACTIVE = {"CHATSTREAM_DEFAULT_MODEL": "extractive"}


def start_stack(kind: str, workdir: Path, **env: str) -> list[ChatstreamProcess]:
    """``embedded`` or ``kafka`` (Kafka + Cassandra), as ``chatstream up`` subprocesses."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = {
        "CHATSTREAM_DATA_DIR": str(workdir / "data"),
        "CHATSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_LOG_LEVEL": "WARNING",
        "CHATSTREAM_WORKER_PORT": "0",
        **UNCAPPED,
        **EXTRACTIVE,
        **env,
    }
    if kind == "kafka":
        require(KAFKA, "Kafka")
        require(CASSANDRA, "Cassandra")
        base |= {"CHATSTREAM_BROKER": f"kafka://{KAFKA}",
                 "CHATSTREAM_STORE": f"cassandra://{CASSANDRA}/bench_{uuid.uuid4().hex[:8]}"}
    proc = ChatstreamProcess(["up", "--port", "0"], base, workdir / f"{kind}.log")
    return [proc.start(180)]


def machine() -> str:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {mem}"


class Proc:
    """``python -m MODULE ARGS`` in the background, ready once it prints ``ready``."""

    def __init__(self, module: str, args: Sequence[str], log: Path, ready: str,
                 env: dict[str, str] | None = None, timeout: float = 120.0) -> None:
        import re
        import subprocess
        import sys
        import threading

        self.log = log
        self.url: str | None = None
        self.ready = False
        seen = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})

        def pump() -> None:
            assert self.proc.stdout is not None
            with log.open("a") as out:
                for line in self.proc.stdout:
                    out.write(line)
                    m = re.search(r"(http://[\d.:]+)", line)
                    if ready in line:
                        # The address on the ready line, else the one it said it listens
                        # on before (a worker's metrics).
                        self.url = m.group(1) if m else self.url
                        self.ready = True
                        seen.set()
                    elif m and "listening on" in line:
                        self.url = m.group(1)
            seen.set()

        threading.Thread(target=pump, daemon=True).start()
        # Output ended without the ready line: it exited (maybe not reaped yet).
        if not seen.wait(timeout) or not self.ready or self.proc.poll() is not None:
            how = f"was not ready in {timeout:g} s" if not seen.is_set() else "exited"
            self.proc.kill()
            self.proc.wait()
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:]) \
                if log.exists() else ""
            raise RuntimeError(f"{module} {' '.join(args)} {how}; see {log}:\n{tail}")
        if self.url:
            self._wait_listening(self.url)

    @staticmethod
    def _wait_listening(url: str, timeout: float = 30.0) -> None:
        # Some servers announce their URL a moment before they accept connections.
        import socket
        import time
        from urllib.parse import urlparse

        parsed = urlparse(url)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((parsed.hostname, parsed.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except Exception:
            self.proc.kill()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bars(path: Path, title: str, panels: Sequence[tuple[str, Sequence[str], Sequence[float],
                                                       float | None]]) -> None:
    """One PNG of side-by-side bar charts: (y label, names, values, target line or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (label, names, values, target) in zip(axes[0], panels, strict=True):
        ax.bar(range(len(values)), values, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, rotation=15, ha="right", fontsize=8)
        ax.set_ylabel(label)
        if target is not None:
            ax.axhline(target, color="#c44e52", linestyle="--", label="target")
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
