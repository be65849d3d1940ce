"""Time to first token and total time of one answer, embedded and on Kafka.

Each stack is a real `chatstream up` process; the client posts a message with
`Accept: text/event-stream` and times the first `token` and the `done` event. The
offline model runs with no pacing, so the figures are the pipeline's own cost; the
baseline is the same model called in-process, with no log, store or HTTP in between.

    python -m bench.pipeline_latency [--runs 50] [--quick] [--stacks embedded,kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from agents.providers.base import Prompt
from agents.providers.extractive import ExtractiveProvider
from bench.common import ROOT, machine, start_stack, summary, table
from harness.sse_client import events
from schemas.catalogue import ModelSpec

QUESTION = "Remember that the staging cluster lives in rack 14 next to the router."


async def _one(client: httpx.AsyncClient, cid: str) -> tuple[float, float]:
    start = time.perf_counter()
    first = 0.0
    async with client.stream("POST", f"/v1/conversations/{cid}/messages",
                             json={"text": QUESTION},
                             headers={"Accept": "text/event-stream"}) as r:
        r.raise_for_status()
        async for e in events(r):
            if e.event == "token" and not first:
                first = time.perf_counter() - start
            if e.event in ("done", "error"):
                break
    return first * 1000, (time.perf_counter() - start) * 1000


async def measure_stack(url: str, runs: int) -> tuple[list[float], list[float]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        ttft, total = [], []
        for i in range(runs + 3):
            # A new conversation each time: history would grow and change the work.
            cid = (await client.post("/v1/conversations")).json()["id"]
            a, b = await _one(client, cid)
            if i >= 3:  # the first answers warm caches and consumer fetch sessions
                ttft.append(a)
                total.append(b)
        return ttft, total


async def measure_direct(runs: int) -> tuple[list[float], list[float]]:
    provider = ExtractiveProvider(delay_ms=0)
    model = ModelSpec(name="local", provider="local", upstream="extractive-v1")
    ttft, total = [], []
    for _ in range(runs):
        start = time.perf_counter()
        first = 0.0
        async for d in provider.stream(model, Prompt(question=QUESTION)):
            if d.text and not first:
                first = time.perf_counter() - start
        ttft.append(first * 1000)
        total.append((time.perf_counter() - start) * 1000)
    return ttft, total


def plot(results: dict[str, tuple[list[float], list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(results)
    ax.boxplot([results[n][0] for n in names], orientation="horizontal", showfliers=False)
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.set_xlabel("time to first token (ms)")
    ax.set_title("chatstream pipeline: time to first token")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a few runs, embedded only")
    parser.add_argument("--stacks", default="embedded,kafka")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/img/pipeline_latency.png")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    stacks = ["embedded"] if args.quick else args.stacks.split(",")
    results: dict[str, tuple[list[float], list[float]]] = {
        "direct (baseline)": await measure_direct(runs)}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in stacks:
            procs = start_stack(kind, Path(tmp) / kind, CHATSTREAM_LOCAL_MODEL_DELAY_MS="0")
            try:
                assert procs[0].url
                results[kind] = await measure_stack(procs[0].url, runs)
            finally:
                for p in procs:
                    p.stop()
    rows = []
    for name, (ttft, total) in results.items():
        t, d = summary(ttft), summary(total)
        rows.append([name, int(t["n"]), t["p50"], t["p95"], t["p99"], d["p50"], d["p95"],
                     d["p99"]])
    print(f"machine: {machine()}; answer of {len(QUESTION.split())} words, no model pacing")
    print(table(["stack", "n", "TTFT p50 ms", "p95", "p99", "total p50 ms", "p95", "p99"],
                rows))
    if not args.quick:
        plot(results, args.plot)
        print(f"plot: {args.plot.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
