"""The upgrade from one consumer group per stage to one per role, under traffic: a
deployment of one worker per stage is stopped mid-traffic (persistence first, the others
while messages still arrive, so the stages stop at different offsets of the requests they
share), then one worker running all four stages as one role takes over. Every accepted
message is answered once: one context and one response on the topics, one answer
stored; none lost."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from harness.process import ChatstreamProcess
from harness.servers import KAFKA
from schemas.topics import CONTEXTS, REQUESTS, RESPONSES
from tests.faults.cluster import start_cluster

CHAT = ["retrieval", "inference", "scoring", "persistence"]


async def _post(client: httpx.AsyncClient, cids: list[str], n: int, start: int,
                accepted: dict[str, str]) -> None:
    for i in range(start, start + n):
        r = await client.post(f"/v1/conversations/{cids[i % len(cids)]}/messages",
                              json={"text": f"note {i}: the rack is number {i}"})
        assert r.status_code == 202, r.text
        accepted[r.json()["request_id"]] = cids[i % len(cids)]


async def _per_request(prefix: str, topic: str) -> Counter[str]:
    """How many records of ``topic`` name each request id (whole topic, from the start)."""
    consumer = AIOKafkaConsumer(prefix + topic, bootstrap_servers=KAFKA,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    counts: Counter[str] = Counter()
    try:
        parts = list(consumer.assignment())
        while not parts:
            await asyncio.sleep(0.1)
            parts = list(consumer.assignment())
        ends = await consumer.end_offsets(parts)
        for _ in range(600):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    value = json.loads(r.value)
                    rid = value.get("request_id") or value.get("request", {}).get("request_id")
                    counts[str(rid)] += 1
            positions = [await consumer.position(tp) for tp in parts]
            if all(at >= ends[tp] for at, tp in zip(positions, parts, strict=True)):
                break
    finally:
        await consumer.stop()
    return counts


@pytest.mark.cassandra
@pytest.mark.timeout(900)  # seven worker starts on a shared two-core machine
async def test_per_stage_workers_stopped_mid_traffic_then_a_role_answers_each_once(
        tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path, edges=1, workers=[[s] for s in CHAT],
                            CHATSTREAM_LOCAL_MODEL_DELAY_MS="5")
    prefix = cluster.env["CHATSTREAM_TOPIC_PREFIX"]
    accepted: dict[str, str] = {}
    try:
        [url] = cluster.urls
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            cids = [(await client.post("/v1/conversations", json={"title": f"c{i}"})
                     ).json()["id"] for i in range(4)]
            await _post(client, cids, 20, 0, accepted)
            workers = {w.args[1]: w for w in cluster.workers}
            # Persistence stops first; retrieval goes on reading requests without it, so
            # the two stop at different offsets of chat.requests.v1.
            await asyncio.to_thread(workers["persistence"].stop)
            await _post(client, cids, 20, 20, accepted)
            await asyncio.to_thread(workers["retrieval"].stop)
            await _post(client, cids, 10, 40, accepted)
            await asyncio.to_thread(workers["inference"].stop)
            await asyncio.to_thread(workers["scoring"].stop)
            await _post(client, cids, 10, 50, accepted)
            cluster.workers.append(ChatstreamProcess(
                ["worker", *CHAT], cluster.env, tmp_path / "role.log",
                ready="workers running").start(180))
            await _post(client, cids, 10, 60, accepted)

            async def answers() -> Counter[str]:
                found: Counter[str] = Counter()
                for cid in cids:
                    r = await client.get(f"/v1/conversations/{cid}/messages",
                                         params={"limit": 1000})
                    for m in r.json()["data"]:
                        if m["role"] == "assistant":
                            found[str(m["request_id"])] += 1
                return found

            stored: Counter[str] = Counter()
            for _ in range(240):
                stored = await answers()
                if all(stored[rid] for rid in accepted):
                    break
                await asyncio.sleep(1.0)
        await asyncio.sleep(3.0)  # a late duplicate would be published by now
        contexts = await _per_request(prefix, CONTEXTS.name)
        responses = await _per_request(prefix, RESPONSES.name)
        requests = await _per_request(prefix, REQUESTS.name)
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
    assert set(requests) == set(accepted)
    assert [rid for rid in accepted if not stored[rid]] == [], "accepted, never answered"
    assert {rid: n for rid, n in stored.items() if n != 1} == {}
    assert {rid: n for rid, n in contexts.items() if n != 1} == {}, "retrieved twice"
    assert {rid: n for rid, n in responses.items() if n != 1} == {}, "answered twice"
    assert set(contexts) == set(responses) == set(accepted)
