"""Does a big batch slow live chat? Interactive time to first token, idle and while a
batch of 200 prompts runs, on a real `chatstream up` process.

For each stack: first `--runs` interactive answers one after another on an idle system;
then a batch is submitted and the same interactive answers run while it is answered,
its progress polled every 0.5 s. The offline model is paced (LOCAL_MODEL_DELAY_MS), so
batch prompts occupy inference as real ones would. The control row feeds the whole batch
at once (BATCH_IN_FLIGHT = batch size), which is what no priority path looks like.

    python -m bench.batch_interference [--runs 30] [--prompts 200] [--stacks embedded,kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import machine, start_stack, summary, table
from harness.sse_client import events

QUESTION = "Remember that the staging cluster lives in rack 14 next to the router."


async def _ttft(client: httpx.AsyncClient) -> float:
    cid = (await client.post("/v1/conversations")).json()["id"]
    start = time.perf_counter()
    async with client.stream("POST", f"/v1/conversations/{cid}/messages",
                             json={"text": QUESTION},
                             headers={"Accept": "text/event-stream"}) as r:
        r.raise_for_status()
        async for e in events(r):
            if e.event == "token":
                return (time.perf_counter() - start) * 1000
            if e.event in ("done", "error"):
                break
    raise AssertionError("no token")


async def _interactive(client: httpx.AsyncClient, runs: int) -> list[float]:
    for _ in range(3):  # warm-up
        await _ttft(client)
    return [await _ttft(client) for _ in range(runs)]


async def _batch(client: httpx.AsyncClient, prompts: int,
                 progress: list[tuple[float, int]]) -> float:
    texts = [f"Question {i}: which rack holds the staging cluster of team {i}?"
             for i in range(prompts)]
    start = time.perf_counter()
    bid = (await client.post("/v1/batches", json={"prompts": texts})).json()["id"]
    while True:
        body = (await client.get(f"/v1/batches/{bid}")).json()
        progress.append((time.perf_counter() - start, body["completed"]))
        if body["status"] == "completed":
            return time.perf_counter() - start
        await asyncio.sleep(0.5)


async def measure(url: str, runs: int, prompts: int) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        idle = await _interactive(client, runs)
        progress: list[tuple[float, int]] = []
        batch = asyncio.create_task(_batch(client, prompts, progress))
        await asyncio.sleep(1.0)  # the batch is under way
        loaded = await _interactive(client, runs)
        batch_done_before = batch.done()
        seconds = await batch
        return {"idle": idle, "loaded": loaded, "batch_s": seconds,
                "updates": len({n for _, n in progress}),
                "overlap": not batch_done_before}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--delay-ms", default="15")
    parser.add_argument("--stacks", default="embedded,kafka")
    parser.add_argument("--in-flight", default="4,200",
                        help="BATCH_IN_FLIGHT values to compare (200 = no priority path)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.stacks.split(","):
            for in_flight in args.in_flight.split(","):
                procs = start_stack(kind, Path(tmp) / f"{kind}-{in_flight}",
                                    CHATSTREAM_LOCAL_MODEL_DELAY_MS=args.delay_ms,
                                    CHATSTREAM_BATCH_IN_FLIGHT=in_flight)
                try:
                    assert procs[0].url
                    r = await measure(procs[0].url, args.runs, args.prompts)
                finally:
                    for p in procs:
                        p.stop()
                idle, loaded = summary(r["idle"]), summary(r["loaded"])  # type: ignore[arg-type]
                rows.append([kind, in_flight, idle["p50"], loaded["p50"],
                             f"{(loaded['p50'] / idle['p50'] - 1) * 100:+.0f}%",
                             idle["p95"], loaded["p95"],
                             f"{(loaded['p95'] / idle['p95'] - 1) * 100:+.0f}%",
                             f"{r['batch_s']:.1f}", r["updates"],
                             "yes" if r["overlap"] else "NO"])
                print(rows[-1], flush=True)
    print(f"machine: {machine()}; {args.runs} interactive answers idle and under a batch of "
          f"{args.prompts} prompts; model paced {args.delay_ms} ms/word")
    print(table(["stack", "in flight", "idle TTFT p50 ms", "loaded p50", "change",
                 "idle p95", "loaded p95", "change", "batch s", "progress updates",
                 "batch ran throughout"], rows))


if __name__ == "__main__":
    asyncio.run(main())
