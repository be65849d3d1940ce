"""A per-minute limit holds across edge replicas: two `chatstream edge` processes on the
same Kafka and Cassandra accept exactly N of a user's concurrent messages between them."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.cluster import start_cluster
from tests.tenancy.support import JWT_ENV, bootstrap, login

pytestmark = [pytest.mark.kafka, pytest.mark.cassandra]

N, EXTRA = 5, 7  # the `burst` plan allows 5 requests per minute
PASSWORD = "burst-owner-pw-4471"


async def test_exactly_n_accepted_across_two_edges(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path, edges=2, workers=[["retrieval", "inference",
                                                          "persistence"]], **JWT_ENV)
    try:
        bootstrap({**os.environ, **cluster.env}, "burst", "owner@burst.io",
                  PASSWORD, plan="burst")
        token = (await login(cluster.urls[0], "owner@burst.io", PASSWORD))["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        clients = [httpx.AsyncClient(base_url=u, timeout=60, headers=headers)
                   for u in cluster.urls]
        try:
            r = await clients[0].post("/v1/conversations", json={"title": "burst"})
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            # The window is the calendar minute: start the burst well inside one.
            if time.time() % 60 > 45:
                await asyncio.sleep(61 - time.time() % 60)
            responses = await asyncio.gather(*(
                clients[i % 2].post(f"/v1/conversations/{cid}/messages",
                                    json={"text": f"message {i}"})
                for i in range(N + EXTRA)))
        finally:
            for c in clients:
                await c.aclose()
        codes = [r.status_code for r in responses]
        assert codes.count(202) == N, (codes, cluster.logs())
        assert codes.count(429) == EXTRA, codes
        refused = next(r for r in responses if r.status_code == 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "requests_per_minute" in refused.json()["error"]["message"]
    finally:
        cluster.stop()
