"""How many concurrent SSE streams one edge process holds at 20 tokens/s each while the
relay's p99 latency stays under 50 ms, and the memory each stream costs.

The edge (`chatstream edge` on Kafka) is fed by a synthetic producer that writes, for N
requests, the request event and then token events at 20/s straight to the topics, so
only the relay is measured, not a model. N clients hold one SSE stream each; relay
latency is the time from a token's production (its text carries the producer's clock) to
its arrival at the client, both on this machine. N grows until p99 passes 50 ms or a
client fails.

    python -m bench.streams [--levels 100,250,500,1000,2000] [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bench.common import ROOT, START_S, UNCAPPED, Proc, bars, machine, pct, table
from bench.cost import Meter, rss_mb, service_pids
from bench.rawhttp import sse_events
from harness.cleanup import drop_topics
from harness.servers import KAFKA, require
from schemas.events import AnswerFinished, TokensGenerated, Usage, new_id
from schemas.stages import topic_name
from schemas.topics import REQUEST_HEADER, TOKENS

RATE = 20.0  # tokens per second per stream
PARTITION = 0  # the edge's reply partition (CHATSTREAM_RELAY_PARTITION)


async def _produce(prefix: str, rids: list[str], seconds: float, foreign: int = 0) -> None:
    """Token events of ``rids`` (requests the edge accepted) to the edge's reply partition,
    as inference writes them (request-id header); with ``foreign`` times as many streams of
    answers other edges serve on the same partition, which the edge must skip."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=5)
    await producer.start()
    others = [new_id() for _ in range(foreign * len(rids))]
    every = [*rids, *others]
    try:
        await asyncio.sleep(1.0)  # clients connect
        ticks = int(seconds * RATE)
        start = time.monotonic()
        # Streams are not in step: each tick is cut into slots and every stream writes
        # in its own slot, as independent answers would, rather than all at once.
        slots = 10
        for seq in range(1, ticks + 1):
            for slot in range(slots):
                for rid in every[slot::slots]:
                    # The text carries its production time: the client measures the relay.
                    ev = TokensGenerated(tenant_id="dev", request_id=rid, conversation_id=rid,
                                         attempt="a", seq=seq, text=f"{time.time():.6f} ")
                    await producer.send(topic_name(TOKENS, prefix), ev.model_dump_json().encode(),
                                        key=f"dev:{rid}".encode(), partition=PARTITION,
                                        headers=[(REQUEST_HEADER, rid.encode())])
                # Keep the schedule: 20 ticks a second across all streams.
                due = start + (seq - 1 + (slot + 1) / slots) / RATE
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        for rid in every:
            done = AnswerFinished(tenant_id="dev", request_id=rid, conversation_id=rid,
                                  attempt="a", seq=ticks + 1, message_id=rid, usage=Usage(),
                                  finish_reason="stop")
            await producer.send(topic_name(TOKENS, prefix), done.model_dump_json().encode(),
                                key=f"dev:{rid}".encode(), partition=PARTITION,
                                headers=[(REQUEST_HEADER, rid.encode())])
        await producer.flush()
    finally:
        await producer.stop()


async def _client(url: str, rid: str, lat: list[float], failures: list[str]) -> None:
    def on_event(event: str, data: str) -> bool:
        if event == "token":
            lat.append((time.time() - float(json.loads(data)["text"])) * 1000)
        return event == "done"

    try:
        status = await sse_events(url, f"/v1/requests/{rid}/events", on_event)
    except (OSError, asyncio.IncompleteReadError) as exc:
        failures.append(type(exc).__name__)
    else:
        if status != 200:
            failures.append(str(status))


def _producer_process(prefix: str, rids: list[str], seconds: float, foreign: int) -> None:
    asyncio.run(_produce(prefix, rids, seconds, foreign))


async def _accept(url: str, n: int) -> list[str]:
    """``n`` messages posted to the edge, each in a conversation of its own: the edge
    registers their answers and names its reply partition in each request."""
    # No keep-alive: a connection the edge closes as idle would fail a reused request.
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def one() -> str:
            cid = (await client.post("/v1/conversations", json={})).json()["id"]
            r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": "x"})
            return str(r.json()["request_id"])
        return list(await asyncio.gather(*(one() for _ in range(n))))


async def level(url: str, prefix: str, n: int, seconds: float, edge_pid: int,
                kafka_idle: dict[str, float] | None = None, foreign: int = 0,
                ) -> dict[str, Any]:
    """One level of ``n`` streams: relay latency, failures, memory, and the edge's CPU per
    SSE token frame delivered (Kafka's too, net of its idle rate)."""
    rids = await _accept(url, n)
    arrivals: dict[str, list[float]] = {rid: [] for rid in rids}
    failures: list[str] = []
    rss_before = rss_mb(edge_pid)
    # The producer runs in its own process: its event loop does not delay the clients'.
    kafka = service_pids(["kafka"])
    meter = Meter({"edge": edge_pid, **kafka}, tree=["edge"], shared=kafka)
    meter.idle_rate = dict(kafka_idle or {})
    meter.start()
    producing = multiprocessing.Process(target=_producer_process,
                                        args=(prefix, rids, seconds, foreign))
    producing.start()
    await asyncio.sleep(0.5)
    clients = [asyncio.create_task(_client(url, rid, arrivals[rid], failures)) for rid in rids]
    await asyncio.sleep(1.0 + seconds / 2)
    rss_mid = rss_mb(edge_pid)
    await asyncio.to_thread(producing.join)
    await asyncio.wait(clients, timeout=30)
    window = meter.stop()
    for task in clients:
        task.cancel()
    lat_ms = [x for values in arrivals.values() for x in values]
    expected = n * int(seconds * RATE)
    if len(lat_ms) < expected:
        failures.append(f"{expected - len(lat_ms)} tokens missing")
    frames = len(lat_ms)
    return {"streams": n, "p50": pct(lat_ms, 0.5), "p99": pct(lat_ms, 0.99),
            "failed": len(failures), "failures": failures[:5], "rss_mb": rss_mid,
            "kb_per_stream": (rss_mid - rss_before) * 1024 / n if n else 0.0,
            "frames": frames,
            "edge_us_per_frame": window.per_unit_ms("edge", frames) * 1000,
            "kafka_us_per_frame": window.per_unit_ms("kafka", frames) * 1000,
            "edge_cores": window.procs["edge"].cpu_s / window.seconds,
            "window": window.as_dict()}


async def relay_levels(url: str, prefix: str, levels: list[int], seconds: float,
                       edge_pid: int, idle_s: float = 2.0, foreign: int = 0,
                       ) -> list[dict[str, Any]]:
    """Each level in turn, up to the first whose p99 passes 50 ms or that fails."""
    kafka = service_pids(["kafka"])
    idle = Meter(kafka, shared=kafka)
    idle.idle(idle_s)
    out = []
    for n in levels:
        r = await level(url, prefix, n, seconds, edge_pid, idle.idle_rate, foreign)
        out.append(r)
        print(f"  {n} streams: relay p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
              f"{r['failed']} failed, edge {r['edge_us_per_frame']:.0f} µs/frame", flush=True)
        if r["p99"] > 50 or r["failed"]:
            break
    return out


async def run_relay(levels: list[int], seconds: float, tmp: Path,
                    idle_s: float = 2.0, foreign: int = 0) -> list[dict[str, Any]]:
    """One `chatstream edge` on fresh topics, through ``levels`` (see relay_levels)."""
    require(KAFKA, "Kafka")
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    env = {"CHATSTREAM_DATA_DIR": str(tmp / "relay"), "CHATSTREAM_TOPIC_PREFIX": prefix,
           "CHATSTREAM_LOG_LEVEL": "WARNING", "CHATSTREAM_BROKER": f"kafka://{KAFKA}",
           "CHATSTREAM_PARTITIONS": "12", "CHATSTREAM_RELAY_PARTITION": str(PARTITION),
           **UNCAPPED}
    edge = Proc("chatstream.cli", ["edge", "--port", "0"], tmp / "relay-edge.log",
                "listening on", env, START_S)
    try:
        assert edge.url
        return await relay_levels(edge.url, prefix, levels, seconds, edge.proc.pid, idle_s,
                                  foreign)
    finally:
        edge.stop()
        drop_topics(prefix)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="100,250,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--foreign", type=int, default=0,
                        help="also write this many times as many streams of answers other "
                             "edges serve to the edge's partition (skipped unparsed)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/img/streams.png")
    args = parser.parse_args()
    levels = [20] if args.quick else [int(x) for x in args.levels.split(",")]
    seconds = 2 if args.quick else args.seconds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in await run_relay(levels, seconds, Path(tmp), 1.0 if args.quick else 2.0,
                                 args.foreign):
            rows.append([r["streams"], r["p50"], r["p99"], r["failed"], r["rss_mb"],
                         r["kb_per_stream"], r["edge_us_per_frame"], r["kafka_us_per_frame"],
                         r["edge_cores"]])
    print(f"machine: {machine()}; {RATE:.0f} tokens/s per stream, {seconds:.0f} s per level")
    print(table(["streams", "relay p50 ms", "p99 ms", "failed", "edge RSS MB",
                 "KB per stream", "edge CPU µs/frame", "Kafka µs/frame (net)",
                 "edge cores"], rows))
    if not args.quick and rows:
        names = [str(r[0]) for r in rows]
        bars(args.plot, f"one edge, {RATE:.0f} tokens/s per stream",
             [("relay latency p99 (ms)", names, [float(r[2]) for r in rows], 50.0),
              ("edge RSS (MB)", names, [float(r[4]) for r in rows], None)])
        print(f"plot: {args.plot.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
