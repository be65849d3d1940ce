"""Batch jobs end to end: progress, results as JSON Lines, cancel, refusals."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx


async def _poll(client: httpx.AsyncClient, bid: str, until: set[str],
                timeout: float = 120.0) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await client.get(f"/v1/batches/{bid}")
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["status"] in until:
            break
        await asyncio.sleep(0.2)
    return seen


async def test_batch_completes_with_progress_and_results(client: httpx.AsyncClient) -> None:
    prompts = [f"Question {i}: what is the price of plan {i}?" for i in range(40)]
    r = await client.post("/v1/batches", json={"prompts": prompts, "model": "local"})
    assert r.status_code == 202, r.text
    batch = r.json()
    assert batch["status"] == "queued" and batch["total"] == 40

    seen = await _poll(client, batch["id"], {"completed"})
    assert seen[-1]["status"] == "completed" and seen[-1]["completed"] == 40
    done = [s["completed"] for s in seen]
    assert done == sorted(done)
    assert any(0 < n < 40 for n in done), f"no progress in between: {done}"

    r = await client.get(batch["results_url"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["index"] for line in lines] == list(range(40))
    assert [line["prompt"] for line in lines] == prompts
    assert all(line["text"] and line["finish_reason"] == "stop" for line in lines)


async def test_cancelled_batch_stops_feeding(client: httpx.AsyncClient) -> None:
    prompts = [f"Tell me about item {i}." for i in range(300)]
    r = await client.post("/v1/batches", json={"prompts": prompts})
    bid = r.json()["id"]
    await _poll(client, bid, {"running"})
    r = await client.post(f"/v1/batches/{bid}/cancel")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelled"
    await asyncio.sleep(3)
    first = (await client.get(f"/v1/batches/{bid}")).json()
    await asyncio.sleep(2)
    later = (await client.get(f"/v1/batches/{bid}")).json()
    assert later["status"] == "cancelled"
    assert later["completed"] == first["completed"] < 300
    lines = (await client.get(f"/v1/batches/{bid}/results")).text.splitlines()
    assert len(lines) == later["completed"]


async def test_batch_refusals(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/batches", json={"prompts": ["x"] * 1001})
    assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"
    r = await client.post("/v1/batches", json={"prompts": ["hi"], "model": "nope"})
    assert r.status_code == 422
    r = await client.post("/v1/batches", json={"prompts": []})
    assert r.status_code == 422
    r = await client.get("/v1/batches/nope")
    assert r.status_code == 404
