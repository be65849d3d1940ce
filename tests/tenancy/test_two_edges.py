"""Limits and sessions hold across edge replicas: two `chatstream edge` processes on the
same Kafka and Cassandra accept exactly N of a user's concurrent messages between them
(each leasing blocks of the limit's units from the shared counter), give back what they
did not spend, and refuse a token on one edge once its session ended on the other."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.faults.cluster import Cluster, start_cluster
from tests.tenancy.support import JWT_ENV, bootstrap, login

pytestmark = [pytest.mark.kafka, pytest.mark.cassandra]

N, EXTRA = 5, 7  # the `burst` plan allows 5 requests per minute
PASSWORD = "burst-owner-pw-4471"
MONTH = 40  # the `month40` plan: messages a month
SESSION_CHECK_S = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    env = {**JWT_ENV, "CHATSTREAM_SESSION_CHECK_S": str(SESSION_CHECK_S),
           "CHATSTREAM_QUOTA_LEASE_S": "2",
           "CHATSTREAM_PLANS": json.dumps({**json.loads(JWT_ENV["CHATSTREAM_PLANS"]),
                                           "month40": {"messages_per_month": MONTH}})}
    running = start_cluster(tmp_path_factory.mktemp("two-edges"), edges=2,
                            workers=[["retrieval", "inference", "persistence"]], **env)
    yield running
    running.stop()


def _clients(cluster: Cluster, token: str) -> list[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"}
    return [httpx.AsyncClient(base_url=u, timeout=60, headers=headers) for u in cluster.urls]


async def _owner(cluster: Cluster, tenant: str, plan: str) -> str:
    email = f"owner@{tenant}.io"
    bootstrap({**os.environ, **cluster.env}, tenant, email, PASSWORD, plan=plan)
    return (await login(cluster.urls[0], email, PASSWORD))["access_token"]


async def _burst(clients: list[httpx.AsyncClient], cid: str, n: int) -> list[httpx.Response]:
    return await asyncio.gather(*(
        clients[i % 2].post(f"/v1/conversations/{cid}/messages", json={"text": f"m {i}"})
        for i in range(n)))


async def test_exactly_n_accepted_across_two_edges(cluster: Cluster) -> None:
    clients = _clients(cluster, await _owner(cluster, "burst", "burst"))
    try:
        # The window is the calendar minute: the conversation (a request too) and the
        # burst well inside one.
        if time.time() % 60 > 45:
            await asyncio.sleep(61 - time.time() % 60)
        r = await clients[0].post("/v1/conversations", json={"title": "burst"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        responses = await _burst(clients, cid, N - 1 + EXTRA)
    finally:
        for c in clients:
            await c.aclose()
    codes = [r.status_code for r in responses]
    assert codes.count(202) == N - 1, (codes, cluster.logs())
    assert codes.count(429) == EXTRA, codes
    refused = next(r for r in responses if r.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "requests_per_minute" in refused.json()["error"]["message"]


async def test_a_month_leased_by_two_edges_holds_exactly_and_comes_back(
        cluster: Cluster) -> None:
    """60 messages at once against 40 a month, half on each edge: never more than 40
    accepted (leased units count as spent). Units an edge leased and did not spend come
    back when its lease ends (QUOTA_LEASE_S=2), so the month's count is what was
    accepted, and exactly 40 messages are accepted in all."""
    clients = _clients(cluster, await _owner(cluster, "month40", "month40"))
    try:
        cid = (await clients[0].post("/v1/conversations", json={})).json()["id"]
        codes = [r.status_code for r in await _burst(clients, cid, 60)]
        accepted = codes.count(202)
        assert accepted <= MONTH, codes
        assert codes.count(429) == 60 - accepted, codes
        for _ in range(100):
            used = [(await c.get("/v1/usage")).json()["used"].get("messages") for c in clients]
            if used == [accepted, accepted]:
                break
            await asyncio.sleep(0.2)
        assert used == [accepted, accepted]
        # One at a time now, alternating edges: what was left in a lease is to be had
        # again once the lease ended.
        refused_in_a_row = 0
        while refused_in_a_row < 2:
            r = await clients[accepted % 2].post(f"/v1/conversations/{cid}/messages",
                                                 json={"text": "one more"})
            if r.status_code == 202:
                accepted, refused_in_a_row = accepted + 1, 0
                continue
            assert r.status_code == 429, r.text
            refused_in_a_row += 1
            await asyncio.sleep(3)  # past QUOTA_LEASE_S: every lease has ended
        assert accepted == MONTH
    finally:
        for c in clients:
            await c.aclose()


async def test_a_logout_on_one_edge_ends_the_session_on_the_other(cluster: Cluster) -> None:
    token = await _owner(cluster, "sessions", "pro")
    here, there = _clients(cluster, token)
    try:
        assert (await there.get("/v1/me")).status_code == 200  # remembered over there
        assert (await here.post("/v1/auth/logout")).status_code == 204
        assert (await here.get("/v1/me")).status_code == 401  # at once on this edge
        started = time.monotonic()
        while (await there.get("/v1/me")).status_code == 200:
            assert time.monotonic() - started < SESSION_CHECK_S + 3, "still alive there"
            await asyncio.sleep(0.1)
    finally:
        await here.aclose()
        await there.aclose()
