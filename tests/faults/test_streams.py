"""Streams survive a client leaving, an edge change and a worker crash, with no token
lost or repeated, and one stored answer per request."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import httpx

from tests.e2e.chat import new_conversation, wait_for_messages
from tests.faults.cluster import start_cluster
from tests.support.sse import collect

LONG = ("Please remember this for the migration plan: the database moves on Tuesday, the "
        "cache moves on Wednesday, the queue workers move on Thursday, the search cluster "
        "moves on Friday, and the old racks are wiped and recycled the following Monday.")


def _text(events: list) -> str:  # type: ignore[type-arg]
    return "".join(e.json()["text"] for e in events if e.event == "token")


async def test_resume_through_another_edge_has_no_gap_or_repeat(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path, edges=2,
                            workers=[["retrieval", "inference", "scoring", "persistence"]],
                            CHATSTREAM_LOCAL_MODEL_DELAY_MS="40",
                            CHATSTREAM_CHUNK_MAX_CHARS="8")
    try:
        a, b = cluster.urls
        async with httpx.AsyncClient(base_url=a, timeout=30) as edge_a, \
                httpx.AsyncClient(base_url=b, timeout=30) as edge_b:
            cid = await new_conversation(edge_a)
            r = await edge_a.post(f"/v1/conversations/{cid}/messages", json={"text": LONG})
            url = r.json()["events_url"]
            cut = random.randint(3, 12)
            first = await collect(edge_a, url, stop_after=cut)
            last_id = [e.id for e in first if e.id][-1]
            rest = await collect(edge_b, url, headers={"Last-Event-ID": last_id})
            assert rest[-1].event == "done", cluster.logs()
            whole = await collect(edge_a, url)

            assert [e.id for e in first + rest if e.id] == [e.id for e in whole if e.id]
            assert _text(first) + _text(rest) == _text(whole)
            stored = await wait_for_messages(edge_b, cid, 2)
            assert stored[1]["text"] == _text(whole)
    finally:
        cluster.stop()


async def test_killed_inference_worker_is_replaced_and_the_client_restarts(
        tmp_path: Path) -> None:
    cluster = start_cluster(
        tmp_path, edges=1,
        workers=[["retrieval", "scoring", "persistence"], ["inference"], ["inference"]],
        CHATSTREAM_LOCAL_MODEL_DELAY_MS="120", CHATSTREAM_CHUNK_MAX_CHARS="8",
        CHATSTREAM_SESSION_TIMEOUT_S="6")
    try:
        inference = cluster.workers[1:]
        async with httpx.AsyncClient(base_url=cluster.urls[0], timeout=60) as client:
            cid = await new_conversation(client)
            r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": LONG})
            rid = r.json()["request_id"]
            got = await collect(client, r.json()["events_url"], stop_after=4)
            assert any(e.event == "token" for e in got)
            owner = next(w for w in inference if f"request_id={rid}" in w.log_path.read_text())
            assert owner.proc is not None
            os.kill(owner.proc.pid, signal.SIGKILL)
            owner.proc.wait(10)

            last_id = [e.id for e in got if e.id][-1]
            rest = await collect(client, r.json()["events_url"],
                                 headers={"Last-Event-ID": last_id}, timeout=90)
            names = [e.event for e in rest]
            assert "restart" in names, cluster.logs()
            assert names[-1] == "done"
            after = rest[names.index("restart") + 1:]
            final = _text(after)
            assert "migration plan" in final

            stored = await wait_for_messages(client, cid, 2)
            await asyncio.sleep(1)  # give a duplicate the time to appear, were there one
            stored = await wait_for_messages(client, cid, 2)
            assert [m["role"] for m in stored] == ["user", "assistant"]
            assert stored[1]["text"] == final
    finally:
        cluster.stop()
