"""Messages accepted per second by one edge process and by two, with acks=all, and a
count proving every accepted message reached the store.

Runs `chatstream edge` (1 or 2) plus one `chatstream worker persistence` on Kafka and
Cassandra; no inference runs, so the figure is the edge's ingestion path alone
(validate, check the conversation, publish and wait for Kafka's acknowledgement).
Load comes from separate client processes posting as fast as they can.

    python -m bench.ingestion [--seconds 15] [--clients 64] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.common import Proc, machine, table
from tests.support.cleanup import drop_keyspace, drop_topics
from tests.support.servers import CASSANDRA, KAFKA, require


async def _post(url: str, cids: list[str], seconds: float, clients: int) -> int:
    accepted = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        deadline = time.monotonic() + seconds

        async def loop(i: int) -> None:
            nonlocal accepted
            n = 0
            while time.monotonic() < deadline:
                cid = cids[(i + n) % len(cids)]
                r = await client.post(f"/v1/conversations/{cid}/messages",
                                      json={"text": f"load {i}-{n}"})
                n += 1
                if r.status_code == 202:
                    accepted += 1

        await asyncio.gather(*(loop(i) for i in range(clients)))
    return accepted


def _client_process(url: str, cids: list[str], seconds: float, clients: int,
                    out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_post(url, cids, seconds, clients)))


async def _stored(url: str, cids: list[str]) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        total = 0
        for cid in cids:
            r = await client.get(f"/v1/conversations/{cid}/messages?limit=1000")
            total += len(r.json()["data"])
        return total


def measure(edges: int, seconds: float, clients: int, tmp: Path) -> tuple[int, float, int]:
    require(KAFKA, "Kafka")
    require(CASSANDRA, "Cassandra")
    env = {
        "CHATSTREAM_DATA_DIR": str(tmp / f"e{edges}"),
        "CHATSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "CHATSTREAM_LOG_LEVEL": "WARNING",
        "CHATSTREAM_BROKER": f"kafka://{KAFKA}",
        "CHATSTREAM_STORE": f"cassandra://{CASSANDRA}/bench_{uuid.uuid4().hex[:8]}",
        "CHATSTREAM_PARTITIONS": "12",
        "CHATSTREAM_WORKER_PORT": "0",
    }
    procs = [Proc("chatstream.cli", ["worker", "persistence"], tmp / f"p{edges}.log",
                  "workers running", env)]
    try:
        procs += [Proc("chatstream.cli", ["edge", "--port", "0"], tmp / f"edge{edges}-{i}.log",
                       "listening on", env) for i in range(edges)]
        urls = [p.url for p in procs[1:] if p.url]

        async def conversations() -> list[str]:
            async with httpx.AsyncClient(base_url=urls[0]) as c:
                return [(await c.post("/v1/conversations")).json()["id"] for _ in range(64)]

        cids = asyncio.run(conversations())
        queue: multiprocessing.Queue[int] = multiprocessing.Queue()
        # One client process per edge: a single Python client could not load two edges.
        workers = [multiprocessing.Process(target=_client_process,
                                           args=(u, cids, seconds, clients, queue))
                   for u in urls]
        start = time.monotonic()
        for w in workers:
            w.start()
        accepted = sum(queue.get() for _ in workers)
        elapsed = time.monotonic() - start
        for w in workers:
            w.join()
        # Persistence is its own consumer group: wait for it to catch up.
        deadline = time.monotonic() + 180
        stored = 0
        while time.monotonic() < deadline:
            stored = asyncio.run(_stored(urls[0], cids))
            if stored >= accepted:
                break
            time.sleep(2)
        return accepted, accepted / elapsed, stored
    finally:
        for p in procs:
            p.stop()
        drop_topics(env["CHATSTREAM_TOPIC_PREFIX"])
        drop_keyspace(env["CHATSTREAM_STORE"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=64, help="concurrent posts per edge")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 2 if args.quick else args.seconds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for edges in ([1] if args.quick else [1, 2]):
            accepted, rate, stored = measure(edges, seconds, args.clients, Path(tmp))
            rows.append([edges, accepted, rate, rate / edges, stored,
                         "yes" if stored == accepted else "NO"])
    print(f"machine: {machine()}; {seconds:.0f} s of posting, {args.clients} concurrent "
          "posts per edge, acks=all")
    print(table(["edges", "accepted", "accepted/s", "per edge/s", "stored",
                 "every accepted stored"], rows))


if __name__ == "__main__":
    main()
