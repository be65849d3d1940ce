"""Soak: a steady rate of answers on one stack for a long while, and what it costs over time.

A real `chatstream up` (embedded, or on Kafka + Cassandra) answers ``--rate`` questions a
second (open loop: arrivals on a schedule, at most ``--clients`` in flight) for
``--minutes``. Every ``--sample-s`` the resident memory (VmRSS) and CPU time of each
chatstream process are read from /proc; each minute reports the answers finished, time to
first token and total time (p50/p95), CPU seconds per answer and RSS. The verdict compares
the RSS after the first 5 minutes (or the first third of a shorter run) with the end, and
the throughput of the last minute with the first.

    python -m bench.soak --stack embedded --minutes 30 --rate 20
    python -m bench.soak --stack kafka --minutes 30 --rate 20
    python -m bench.soak --stack embedded --minutes 3 --out /tmp/soak.json   # shorter

The plot goes to docs/img/soak-STACK.png and the figures to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import ROOT, machine, pct, start_stack, table
from harness.sse_client import events

QUESTION = "Remember that the staging cluster lives in rack 14 next to the router."
TURNS_PER_CONVERSATION = 10  # then a new one, so history stays at its steady size


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Minute:
    answers: int = 0
    errors: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)


@dataclass
class Soak:
    started: float
    minutes: list[Minute] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)

    def minute(self) -> Minute:
        i = int((time.monotonic() - self.started) // 60)
        while len(self.minutes) <= i:
            self.minutes.append(Minute())
        return self.minutes[i]


async def _answer(client: httpx.AsyncClient, cid: str, soak: Soak) -> None:
    start = time.perf_counter()
    first = 0.0
    try:
        async with client.stream("POST", f"/v1/conversations/{cid}/messages",
                                 json={"text": QUESTION},
                                 headers={"Accept": "text/event-stream"}) as r:
            if r.status_code != 200:
                soak.minute().errors += 1
                return
            async for e in events(r):
                if e.event == "token" and not first:
                    first = time.perf_counter() - start
                if e.event == "error":
                    soak.minute().errors += 1
                    return
                if e.event == "done":
                    break
    except httpx.HTTPError:
        soak.minute().errors += 1
        return
    m = soak.minute()
    m.answers += 1
    m.ttft_ms.append(first * 1000)
    m.total_ms.append((time.perf_counter() - start) * 1000)


async def _sampler(pids: dict[str, int], soak: Soak, every_s: float) -> None:
    while True:
        row = {"t": time.monotonic() - soak.started}
        for name, pid in pids.items():
            row[f"{name}_rss_mb"] = rss_mb(pid)
            row[f"{name}_cpu_s"] = cpu_s(pid)
        soak.samples.append(row)
        await asyncio.sleep(every_s)


async def drive(url: str, pids: dict[str, int], *, minutes: float, rate: float,
                clients: int, sample_s: float) -> Soak:
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        # Warm-up: the clock starts once one answer went through (on Kafka, once every
        # stage's consumer group has its partitions), so minute 1 is not start-up.
        warm = Soak(time.monotonic())
        cid = (await client.post("/v1/conversations")).json()["id"]
        for _ in range(20):
            await _answer(client, cid, warm)
            if any(m.answers for m in warm.minutes):
                break
        soak = Soak(time.monotonic())
        sampler = asyncio.create_task(_sampler(pids, soak, sample_s))
        slots = asyncio.Semaphore(clients)
        tasks: set[asyncio.Task[None]] = set()
        cid, turns, n = "", TURNS_PER_CONVERSATION, 0
        end = soak.started + minutes * 60
        while (now := time.monotonic()) < end:
            due = soak.started + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            n += 1
            if turns >= TURNS_PER_CONVERSATION:
                r = await client.post("/v1/conversations")
                cid, turns = r.json()["id"], 0
            turns += 1
            await slots.acquire()  # a saturated stack slows the arrivals: counted below

            async def one(c: str = cid) -> None:
                try:
                    await _answer(client, c, soak)
                finally:
                    slots.release()
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.wait(tasks, timeout=60) if tasks else None
        sampler.cancel()
    soak.minutes = soak.minutes[:max(1, int(minutes))]  # the tail of late answers is no minute
    return soak


def report(soak: Soak, pids: dict[str, int], stack: str, rate: float) -> dict[str, object]:
    rows, per_minute = [], []
    for i, m in enumerate(soak.minutes):
        lo = [s for s in soak.samples if i * 60 <= s["t"] < (i + 1) * 60]
        cpu = sum(lo[-1][f"{p}_cpu_s"] - lo[0][f"{p}_cpu_s"] for p in pids) if len(lo) > 1 else 0
        rss = sum(lo[-1][f"{p}_rss_mb"] for p in pids) if lo else 0.0
        row = {"minute": i + 1, "answers_per_s": m.answers / 60, "errors": m.errors,
               "ttft_p50_ms": pct(m.ttft_ms, 0.5), "ttft_p95_ms": pct(m.ttft_ms, 0.95),
               "total_p50_ms": pct(m.total_ms, 0.5), "total_p95_ms": pct(m.total_ms, 0.95),
               "cpu_ms_per_answer": cpu * 1000 / m.answers if m.answers else 0.0,
               "rss_mb": rss}
        per_minute.append(row)
        rows.append(list(row.values()))
    print(table(["min", "answers/s", "errors", "TTFT p50", "TTFT p95", "total p50",
                 "total p95", "CPU ms/answer", "RSS MB"], rows))
    settle = min(5, max(1, len(per_minute) // 3))  # 5 minutes, or a third of a short run
    rss_settled = float(per_minute[settle - 1]["rss_mb"])
    rss_end = float(per_minute[-1]["rss_mb"])
    first_tp = float(per_minute[0]["answers_per_s"])
    last_tp = float(per_minute[-1]["answers_per_s"])
    answers = sum(m.answers for m in soak.minutes)
    ttft = [x for m in soak.minutes for x in m.ttft_ms]
    cpu_total = sum(soak.samples[-1][f"{p}_cpu_s"] - soak.samples[0][f"{p}_cpu_s"]
                    for p in pids)
    verdict = {
        "stack": stack, "rate": rate, "minutes": len(per_minute), "answers": answers,
        "errors": sum(m.errors for m in soak.minutes),
        "ttft_p50_ms": pct(ttft, 0.5), "ttft_p95_ms": pct(ttft, 0.95),
        "cpu_ms_per_answer": cpu_total * 1000 / answers if answers else 0.0,
        "rss_settled_mb": rss_settled, "rss_end_mb": rss_end,
        "rss_growth_pct": (rss_end / rss_settled - 1) * 100 if rss_settled else 0.0,
        "rss_settled_after_min": settle,
        "throughput_change_pct": (last_tp / first_tp - 1) * 100 if first_tp else 0.0,
    }
    print(json.dumps(verdict, indent=1))
    return {"verdict": verdict, "per_minute": per_minute, "samples": soak.samples,
            "machine": machine()}


def plot(path: Path, result: dict[str, object], pids: dict[str, int], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples: list[dict[str, float]] = result["samples"]  # type: ignore[assignment]
    minutes: list[dict[str, float]] = result["per_minute"]  # type: ignore[assignment]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name in pids:
        axes[0].plot([s["t"] / 60 for s in samples], [s[f"{name}_rss_mb"] for s in samples],
                     label=name)
    axes[0].set_xlabel("minute")
    axes[0].set_ylabel("RSS (MB)")
    axes[0].set_ylim(bottom=0)
    axes[0].legend(fontsize=8)
    xs = [m["minute"] for m in minutes]
    axes[1].plot(xs, [m["answers_per_s"] for m in minutes], marker="o")
    axes[1].set_xlabel("minute")
    axes[1].set_ylabel("answers/s")
    axes[1].set_ylim(bottom=0)
    axes[2].plot(xs, [m["ttft_p50_ms"] for m in minutes], marker="o", label="TTFT p50")
    axes[2].plot(xs, [m["ttft_p95_ms"] for m in minutes], marker="o", label="TTFT p95")
    axes[2].plot(xs, [m["total_p50_ms"] for m in minutes], marker=".", label="total p50")
    axes[2].set_xlabel("minute")
    axes[2].set_ylabel("ms")
    axes[2].set_ylim(bottom=0)
    axes[2].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", choices=("embedded", "kafka"), default="embedded")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="answers asked per second")
    parser.add_argument("--clients", type=int, default=32, help="most answers in flight")
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--delay-ms", default="0", help="offline model pace per word")
    parser.add_argument("--out", type=Path, default=None, help="JSON of every figure")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="data dir (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        procs = start_stack(args.stack, work, CHATSTREAM_LOCAL_MODEL_DELAY_MS=args.delay_ms,
                            CHATSTREAM_LAG_INTERVAL_S="0")
        pids = {f"up-{args.stack}": p.proc.pid for p in procs if p.proc is not None}
        try:
            url = procs[0].url
            assert url is not None
            soak = await drive(url, pids, minutes=args.minutes, rate=args.rate,
                               clients=args.clients, sample_s=args.sample_s)
        finally:
            for p in procs:
                p.stop()
        result = report(soak, pids, args.stack, args.rate)
    print(f"machine: {machine()}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    path = args.plot or ROOT / f"docs/img/soak-{args.stack}.png"
    plot(path, result, pids, f"soak, {args.stack}: {args.rate:g} answers/s asked, "
                             f"{len(soak.minutes)} min")
    print(f"plot: {path}")


if __name__ == "__main__":
    asyncio.run(main())
