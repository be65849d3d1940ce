"""The load generator: N concurrent chat clients, each timing its answers over SSE."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from harness.sse_client import events

__all__ = ("Result", "run_load")


@dataclass
class Result:
    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.total_ms) / self.seconds if self.seconds else 0.0


async def _one(client: httpx.AsyncClient, cid: str, text: str, result: Result) -> None:
    start = time.perf_counter()
    first = 0.0
    try:
        async with client.stream("POST", f"/v1/conversations/{cid}/messages",
                                 json={"text": text, "model": "fake"},
                                 headers={"Accept": "text/event-stream"}) as r:
            if r.status_code != 200:
                result.errors += 1
                return
            async for e in events(r):
                if e.event == "token" and not first:
                    first = time.perf_counter() - start
                if e.event in ("done", "error"):
                    if e.event == "error":
                        result.errors += 1
                        return
                    break
    except httpx.HTTPError:
        result.errors += 1
        return
    result.ttft_ms.append(first * 1000)
    result.total_ms.append((time.perf_counter() - start) * 1000)


async def run_load(url: str, concurrency: int, requests_per_client: int,
                   warmup: int = 1) -> Result:
    """``concurrency`` clients, each with its own conversation, asking one question
    after another; the first ``warmup`` answers of each client are not counted."""
    limits = httpx.Limits(max_connections=concurrency + 8,
                          max_keepalive_connections=concurrency + 8)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        cids = []
        for _ in range(concurrency):
            r = await client.post("/v1/conversations")
            cids.append(r.json()["id"])
        warm = Result()
        await asyncio.gather(*(_one(client, c, "warm up", warm) for c in cids
                               for _ in range(warmup)))
        result = Result()

        async def client_loop(cid: str) -> None:
            for i in range(requests_per_client):
                await _one(client, cid, f"question {i} about the quarterly plan", result)

        start = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for c in cids))
        result.seconds = time.perf_counter() - start
        return result
