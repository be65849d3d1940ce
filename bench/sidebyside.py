"""Direct upstream, LiteLLM, chatstream embedded and chatstream on Kafka + Cassandra, in
front of the same fake upstream and driven by the same load generator, at each number of
concurrent streams: latency, throughput and the CPU of every process per answer."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import pct
from bench.cost import Meter, Window, machine_state, service_pids
from bench.records import counted, statements
from bench.stacks import Stack, start_stack

__all__ = ("LoadGen", "jvm_idle_rate", "measure_stack", "requests_for")


class LoadGen:
    """``python -m bench.loadgen`` driven line by line (see that module)."""

    def __init__(self, stack: Stack, log: Path) -> None:
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", "--base-url", stack.base_url,
             "--model", stack.model, "--api-key", stack.api_key],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
        try:
            self._read()
        except BaseException:
            self.stop()
            raise

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited; see its log")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, **cmd: object) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def requests_for(streams: int, answers: int) -> int:
    """Answers per client: about ``answers`` in all, at least 3 each (one stream: 12)."""
    if streams == 1:
        return 12
    return max(3, math.ceil(answers / streams))


def jvm_idle_rate(seconds: float) -> dict[str, float]:
    """Kafka's and Cassandra's CPU per second with none of our processes running: the
    machine is shared, so their CPU in a window is also reported net of this."""
    pids = service_pids()
    meter = Meter(pids, shared=pids)
    meter.idle(seconds)
    return meter.idle_rate


def _row(stack: Stack, window: Window, run: dict[str, Any], **extra: Any) -> dict[str, Any]:
    n = len(run["total_ms"])
    row = {
        "stack": stack.name, **extra,
        "answers": n, "errors": run["errors"], "error_kinds": run["error_kinds"],
        "reconnects": run["reconnects"],
        "ttft_p50": pct(run["ttft_ms"], 0.5), "ttft_p95": pct(run["ttft_ms"], 0.95),
        "ttft_p99": pct(run["ttft_ms"], 0.99), "total_p50": pct(run["total_ms"], 0.5),
        "rps": n / run["seconds"] if run["seconds"] else 0.0,
        "frames_per_answer": (sum(run["frames"]) / n) if n else 0.0,
        "ours": list(stack.ours),
        "server_ms_per_answer": window.total_ms(stack.ours, n) if stack.ours else 0.0,
        "per_process_ms": {p: window.per_unit_ms(p, n) for p in window.procs},
        "window": window.as_dict(), "ttft_ms": run["ttft_ms"],
    }
    how = (f"{extra['streams']:>3} streams" if extra["mode"] == "closed"
           else f"open {extra['rate']:g}/s")
    print(f"  {stack.name:<9} {how}: {n} answers, {run['errors']} errors, TTFT p50 "
          f"{row['ttft_p50']:.1f} ms, {row['rps']:.1f} req/s, server CPU "
          f"{row['server_ms_per_answer']:.1f} ms/answer, load {machine_state()['load1']:.1f}",
          flush=True)
    return row


def measure_stack(kind: str, tmp: Path, model_url: str, upstream_pid: int,
                  levels: list[int], answers: int, idle: dict[str, float],
                  open_rates: Sequence[float] = (), open_s: float = 6.0,
                  idle_s: float = 3.0, rows: list[dict[str, Any]] | None = None,
                  records: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One stack at each level (closed loop), then at each open-loop rate: a row each with
    latencies, answers and the window's costs, appended to ``rows`` as they are measured
    (so a stack failing at 64 streams keeps its rows at 1 and 16). For a stack on Kafka,
    ``records`` gets what its answers wrote (bench/records.py), counted after the run."""
    try:
        stack = start_stack(kind, tmp, model_url)
    except RuntimeError as exc:
        # A busy machine sometimes times a process out while it connects (Cassandra's
        # control connection): one more try, said so, before the stack counts as failed.
        print(f"  {kind} did not start ({str(exc)[:200]}); trying once more", flush=True)
        stack = start_stack(kind, tmp, model_url)
    rows = [] if rows is None else rows
    counts = records is not None and kind.startswith("kafka")
    try:
        before = statements(stack) if counts else None
        load = LoadGen(stack, tmp / f"loadgen-{kind}.log")
        try:
            meter = Meter({**stack.pids, "upstream": upstream_pid,
                           "load generator": load.proc.pid},
                          tree=stack.tree, shared=stack.shared)
            meter.idle_rate = {k: v for k, v in idle.items() if k in stack.shared}
            # What each process burns with no request at all (polling, timers): at low
            # rates it is a large part of the CPU per answer.
            floor = meter.rates(idle_s)
            for streams in levels:
                warm = load.ask(op="warm", streams=streams)
                if not warm["ok"]:
                    raise RuntimeError(f"{kind}: warm-up failed: {warm['errors']}")
                requests = requests_for(streams, answers)
                meter.start()
                run = load.ask(op="run", streams=streams, requests=requests)
                rows.append(_row(stack, meter.stop(), run, mode="closed", streams=streams,
                                 requests_per_client=requests, idle_cpu_per_s=floor))
            for rate in open_rates:
                count = max(4, int(rate * open_s))
                meter.start()
                run = load.ask(op="open", rate=rate, count=count)
                rows.append(_row(stack, meter.stop(), run, mode="open", streams=0,
                                 rate=rate, idle_cpu_per_s=floor))
        finally:
            load.stop()
        if counts and records is not None and before is not None:
            records[kind] = counted(stack, before, "default coalescing"
                                    if kind == "kafka-coalesced" else "one frame per chunk")
    finally:
        stack.stop()
    return rows
