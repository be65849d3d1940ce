"""#26.6: one tenant's embedding batch does not hold another tenant's work behind it.

Attack: one tenant embeds 256 texts; the ONNX model's one worker thread, shared by
``/v1/embeddings``, retrieval and ingestion, served callers first come first served, so
another tenant's answer went from 0.43 s to 12.6 s. The figure (answer time under the
batch against idle) is measured by ``python -m bench.fair_share``; here the order: the
other tenant is served while the batch is still being embedded."""

from __future__ import annotations

import asyncio

import httpx

from tests.security.support import Edge

PASSAGE = "The ferry to Skarholm leaves the north quay at seven and at noon."


async def test_another_tenant_is_served_while_a_batch_is_embedded(dev_edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=120,
                                 headers={"X-Dev-Tenant": "bulk"}) as bulk, \
            httpx.AsyncClient(base_url=dev_edge.url, timeout=120,
                              headers={"X-Dev-Tenant": "other"}) as other:
        [model] = [m["id"] for m in (await other.get("/v1/models")).json()["data"]
                   if m.get("kind") == "embedding"]
        batch = asyncio.ensure_future(bulk.post("/v1/embeddings", json={
            "model": model, "input": [f"{i}: {PASSAGE}" for i in range(256)]}))
        await asyncio.sleep(0.5)  # the batch is in the model's hands
        assert not batch.done()
        # A question, a batch of its own, a question, one after the other: each waits one
        # unit of the big batch at most (first come, first served, the first waited for
        # all of it).
        for texts in (["When does the ferry leave?"],
                      [f"Timetable line {i}: {PASSAGE}" for i in range(8)],
                      ["At noon too?"]):
            r = await other.post("/v1/embeddings", json={"model": model, "input": texts})
            assert r.status_code == 200, r.text
            assert len(r.json()["data"]) == len(texts)
        assert not batch.done(), "the other tenant waited for the whole batch"
        done = await batch
        assert done.status_code == 200, done.text
        assert len(done.json()["data"]) == 256
