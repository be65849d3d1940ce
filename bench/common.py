"""Shared by the bench scripts: percentiles, tables, plots, and starting stacks."""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Sequence
from pathlib import Path

from tests.support.process import ChatstreamProcess
from tests.support.servers import CASSANDRA, KAFKA, require

__all__ = ("ROOT", "pct", "start_stack", "summary", "table")

ROOT = Path(__file__).resolve().parents[1]


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


def start_stack(kind: str, workdir: Path, **env: str) -> list[ChatstreamProcess]:
    """``embedded`` or ``kafka`` (Kafka + Cassandra), as ``chatstream up`` subprocesses."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = {
        "CHATSTREAM_DATA_DIR": str(workdir / "data"),
        "CHATSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_LOG_LEVEL": "WARNING",
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
