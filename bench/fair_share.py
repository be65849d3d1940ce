"""Another tenant's answer time while one tenant embeds 256 texts, against its idle time
(#26.6): the embedder serves tenants in turn, in units, so the ratio stays near 1.

One embedded ``chatstream up`` (the minilm embedder, the extractive model). Tenant
``other`` has a document, so each of its questions is embedded by retrieval on the same
model thread as the batch; its answers are read to their ``done`` event. Tenant ``bulk``
sends ``/v1/embeddings`` requests of 256 passages, back to back, for the second half.

    python -m bench.fair_share [--answers 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import START_S, pct, table
from harness.process import ChatstreamProcess

DOCUMENT = ("# Skarholm ferries\n\nThe ferry to Skarholm leaves the north quay at seven in "
            "the morning and again at noon. Tickets are sold on board; bicycles travel free. "
            "In winter the noon crossing is cancelled when the wind passes force seven.\n")
PASSAGE = ("Passage {i} of the harbour handbook: the pilot boards at the outer buoy, the "
           "tug takes the line at the breakwater, and the berth is assigned by the harbour "
           "master once the vessel reports its draught and its cargo. ") * 2


async def _indexed(c: httpx.AsyncClient, document_id: str) -> None:
    for _ in range(3000):
        if (await c.get(f"/v1/documents/{document_id}")).json()["status"] == "ready":
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the document was not indexed")


async def _answer(c: httpx.AsyncClient, question: str) -> float:
    cid = (await c.post("/v1/conversations", json={})).json()["id"]
    started = time.perf_counter()
    async with c.stream("POST", f"/v1/conversations/{cid}/messages",
                        json={"text": question},
                        headers={"Accept": "text/event-stream"}) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if line == "event: done":
                break
    return time.perf_counter() - started


async def _answers(c: httpx.AsyncClient, n: int) -> list[float]:
    return [await _answer(c, f"When does the ferry to Skarholm leave? ({i})")
            for i in range(n)]


async def _bulk(c: httpx.AsyncClient, model: str, stop: asyncio.Event) -> int:
    done = 0
    texts = [PASSAGE.format(i=i) for i in range(256)]
    while not stop.is_set():
        r = await c.post("/v1/embeddings", json={"model": model, "input": texts})
        r.raise_for_status()
        done += 1
    return done


async def run(answers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fair-share-") as tmp:
        env = {"CHATSTREAM_DATA_DIR": str(Path(tmp) / "data"),
               "CHATSTREAM_DEFAULT_MODEL": "extractive", "CHATSTREAM_WORKER_PORT": "0",
               "CHATSTREAM_LAG_INTERVAL_S": "0"}
        up = ChatstreamProcess(["up", "--port", "0"], env, Path(tmp) / "up.log").start(START_S)
        try:
            assert up.url
            async with httpx.AsyncClient(base_url=up.url, timeout=600,
                                         headers={"X-Dev-Tenant": "other"}) as other, \
                    httpx.AsyncClient(base_url=up.url, timeout=600,
                                      headers={"X-Dev-Tenant": "bulk"}) as bulk:
                r = await other.post("/v1/documents", files={
                    "file": ("ferries.md", DOCUMENT.encode(), "text/markdown")})
                r.raise_for_status()
                await _indexed(other, r.json()["id"])
                [model] = [m["id"] for m in (await other.get("/v1/models")).json()["data"]
                           if m.get("kind") == "embedding"]
                await _answers(other, 2)  # warm: model loaded, caches filled
                cpu = up.cpu_seconds()
                idle = await _answers(other, answers)
                idle_cpu = up.cpu_seconds() - cpu
                stop = asyncio.Event()
                flood = asyncio.ensure_future(_bulk(bulk, model, stop))
                await asyncio.sleep(2)  # the batches are in the model's hands
                cpu = up.cpu_seconds()
                busy = await _answers(other, answers)
                busy_cpu = up.cpu_seconds() - cpu
                stop.set()
                batches = await flood
        finally:
            with contextlib.suppress(Exception):
                up.stop()
    rows = [["idle", pct(idle, 0.5) * 1000, pct(idle, 0.9) * 1000, idle_cpu],
            ["one tenant embedding 256 texts", pct(busy, 0.5) * 1000,
             pct(busy, 0.9) * 1000, busy_cpu]]
    print(table(["other tenant's answer", "p50 ms", "p90 ms", "process CPU s"], rows))
    print(f"\nratio p50 {pct(busy, 0.5) / pct(idle, 0.5):.2f}, "
          f"p90 {pct(busy, 0.9) / pct(idle, 0.9):.2f}; {answers} answers each; "
          f"{batches} batches of 256 embedded meanwhile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=15)
    asyncio.run(run(parser.parse_args().answers))


if __name__ == "__main__":
    main()
