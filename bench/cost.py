"""What a benchmark's processes cost: CPU seconds and resident memory of every process it
starts or relies on, read from /proc over a measured window.

Latency alone says little on a shared 2-core machine: it moves with whatever else runs.
CPU seconds per unit of work (an answer, an accepted message, an SSE frame) of each
process move far less, so every script reports them beside its latencies.

    meter = Meter({"edge": edge_pid, "kafka": kafka_pid}, shared={"kafka"})
    meter.idle(3.0)          # shared servers: their CPU rate with nothing of ours running
    meter.start(); ...load...; window = meter.stop()
    window.per_unit_ms("edge", answers)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ("Meter", "ProcCost", "Window", "cpu_seconds", "machine_state", "rss_mb",
           "service_pids")

_TICK = os.sysconf("SC_CLK_TCK")
_ROOT = Path(__file__).resolve().parents[1]


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last one.
    return raw.rsplit(")", 1)[1].split()


def _children_index() -> dict[int, list[int]]:
    """ppid -> live child pids, from one pass over /proc."""
    index: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                index.setdefault(int(fields[1]), []).append(int(entry.name))
    return index


def _tree(pid: int, index: Mapping[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(index.get(p, ()))
    return out


def cpu_seconds(pid: int, *, tree: bool = False,
                index: Mapping[int, list[int]] | None = None) -> float | None:
    """utime + stime of ``pid`` (None once it is gone). With ``tree``, plus its live
    descendants and the children it has reaped (cutime + cstime): a server that forks
    workers or sandboxes is charged for them."""
    fields = _stat(pid)
    if fields is None:
        return None
    # Fields 14-17 of proc(5), counted from 1 with pid and comm: index 11-14 here.
    total = int(fields[11]) + int(fields[12])
    if tree:
        total += int(fields[13]) + int(fields[14])
        for child in _tree(pid, index if index is not None else _children_index())[1:]:
            cf = _stat(child)
            if cf is not None:
                total += int(cf[11]) + int(cf[12]) + int(cf[13]) + int(cf[14])
    return total / _TICK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot."""
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return total - idle, total


def machine_state() -> dict[str, float]:
    """Load averages now: recorded beside every run, since the machine is shared."""
    one, five, fifteen = os.getloadavg()
    return {"load1": one, "load5": five, "load15": fifteen, "cores": float(os.cpu_count() or 1)}


def _listening_pid(port: int) -> int | None:
    inodes: set[str] = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    if not inodes:
        return None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with os.scandir(f"/proc/{entry.name}/fd") as fds:
                for fd in fds:
                    try:
                        if os.readlink(fd.path) in inodes:
                            return int(entry.name)
                    except OSError:
                        continue
        except OSError:
            continue
    return None


def service_pids(names: Iterable[str] = ("kafka", "cassandra")) -> dict[str, int]:
    """The pids of the servers of `make services` (their JVMs): from the launcher's own
    state (`services.py status --json`), else whoever listens on their ports."""
    wanted = list(names)
    found: dict[str, int] = {}
    try:
        done = subprocess.run(
            [sys.executable, str(_ROOT / "deploy/local/services.py"), "status", "--json",
             *wanted], capture_output=True, text=True, timeout=60, check=False)
        for row in json.loads(done.stdout or "[]"):
            if row.get("name") in wanted and row.get("pid"):
                found[row["name"]] = int(row["pid"])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    ports = {"kafka": int(os.environ.get("CHATSTREAM_KAFKA_PORT", "9092")),
             "cassandra": int(os.environ.get("CHATSTREAM_CASSANDRA_PORT", "9042"))}
    for name in wanted:
        if name not in found and name in ports:
            pid = _listening_pid(ports[name])
            if pid is not None:
                found[name] = pid
    return found


@dataclass
class ProcCost:
    """One process over one window."""

    cpu_s: float
    rss_peak_mb: float
    idle_cpu_s: float = 0.0
    """A shared server's CPU over the same length of time with nothing of ours running
    (measured by :meth:`Meter.idle`); 0 for our own processes."""

    @property
    def net_cpu_s(self) -> float:
        return max(0.0, self.cpu_s - self.idle_cpu_s)


@dataclass
class Window:
    seconds: float
    procs: dict[str, ProcCost]
    machine_busy: float
    """Share of all cores busy over the window (every process on the machine)."""
    load_before: dict[str, float] = field(default_factory=dict)
    load_after: dict[str, float] = field(default_factory=dict)

    def per_unit_ms(self, name: str, units: int) -> float:
        """CPU milliseconds per unit of ``name`` (shared servers net of their idle rate)."""
        cost = self.procs.get(name)
        return cost.net_cpu_s * 1000 / units if cost and units else float("nan")

    def total_ms(self, names: Iterable[str], units: int) -> float:
        return sum(self.per_unit_ms(n, units) for n in names if n in self.procs)

    def as_dict(self) -> dict[str, object]:
        return {"seconds": self.seconds, "machine_busy": self.machine_busy,
                "load_before": self.load_before, "load_after": self.load_after,
                "procs": {n: {"cpu_s": c.cpu_s, "idle_cpu_s": c.idle_cpu_s,
                              "net_cpu_s": c.net_cpu_s, "rss_peak_mb": c.rss_peak_mb}
                          for n, c in self.procs.items()}}


class Meter:
    """CPU and peak RSS of named processes over a window.

    ``tree`` names count their descendants too; ``shared`` names are servers other work
    also uses (Kafka's and Cassandra's JVMs): :meth:`idle` measures their rate with
    nothing of ours running, and each window reports them net of it as well as raw."""

    def __init__(self, procs: Mapping[str, int], *, tree: Iterable[str] = (),
                 shared: Iterable[str] = (), sample_s: float = 0.25) -> None:
        self.procs = dict(procs)
        self.tree = set(tree)
        self.shared = set(shared)
        self.sample_s = sample_s
        self.idle_rate: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self._peak: dict[str, float] = {}
        self._t0 = 0.0
        self._busy0 = (0, 0)
        self._load0: dict[str, float] = {}
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def add(self, name: str, pid: int, *, tree: bool = False) -> None:
        self.procs[name] = pid
        if tree:
            self.tree.add(name)

    def _cpu(self) -> dict[str, float]:
        index = _children_index() if self.tree else None
        out = {}
        for name, pid in self.procs.items():
            value = cpu_seconds(pid, tree=name in self.tree, index=index)
            if value is not None:
                out[name] = value
        return out

    def rates(self, seconds: float) -> dict[str, float]:
        """CPU seconds per second of every process over the next ``seconds``."""
        before, t0 = self._cpu(), time.monotonic()
        time.sleep(seconds)
        after, elapsed = self._cpu(), time.monotonic() - t0
        return {n: (after[n] - before[n]) / elapsed for n in before if n in after}

    def idle(self, seconds: float) -> None:
        """The shared servers' CPU rate over ``seconds`` while we do nothing."""
        if self.shared:
            rates = self.rates(seconds)
            self.idle_rate = {n: v for n, v in rates.items() if n in self.shared}

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_s):
            self._peaks()

    def _peaks(self) -> None:
        for name, pid in self.procs.items():
            self._peak[name] = max(self._peak.get(name, 0.0), rss_mb(pid))

    def start(self) -> None:
        self._peak = {}
        self._peaks()
        self._load0 = machine_state()
        self._busy0 = _busy_jiffies()
        self._start = self._cpu()
        self._t0 = time.monotonic()
        self._stop.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def stop(self) -> Window:
        window = self.lap()
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        return window

    def lap(self) -> Window:
        """The window so far, the meter still running. A process added after start()
        began inside the window: all its CPU counts."""
        end = self._cpu()
        seconds = time.monotonic() - self._t0
        busy1 = _busy_jiffies()
        self._peaks()
        d_busy, d_total = busy1[0] - self._busy0[0], busy1[1] - self._busy0[1]
        procs = {}
        for name, value in end.items():
            procs[name] = ProcCost(cpu_s=value - self._start.get(name, 0.0),
                                   rss_peak_mb=self._peak.get(name, 0.0),
                                   idle_cpu_s=self.idle_rate.get(name, 0.0) * seconds)
        return Window(seconds=seconds, procs=procs,
                      machine_busy=d_busy / d_total if d_total else 0.0,
                      load_before=self._load0, load_after=machine_state())
