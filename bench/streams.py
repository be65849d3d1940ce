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

from aiokafka import AIOKafkaProducer

from bench.common import ROOT, Proc, bars, machine, pct, table
from bench.rawhttp import sse_events
from harness.cleanup import drop_topics
from harness.servers import KAFKA, require
from schemas.events import AnswerFinished, MessageReceived, TokensGenerated, Usage
from schemas.stages import topic_name
from schemas.topics import REQUESTS, TOKENS

RATE = 20.0  # tokens per second per stream


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _produce(prefix: str, rids: list[str], seconds: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=5)
    await producer.start()
    try:
        for rid in rids:
            req = MessageReceived(tenant_id="dev", request_id=rid, message_id=rid,
                                  conversation_id=rid, user_id="dev", text="x", model="local")
            await producer.send(topic_name(REQUESTS, prefix), req.model_dump_json().encode(),
                                key=f"dev:{rid}".encode())
        await producer.flush()
        await asyncio.sleep(1.0)  # clients connect
        ticks = int(seconds * RATE)
        start = time.monotonic()
        # Streams are not in step: each tick is cut into slots and every stream writes
        # in its own slot, as independent answers would, rather than all at once.
        slots = 10
        for seq in range(1, ticks + 1):
            for slot in range(slots):
                for rid in rids[slot::slots]:
                    # The text carries its production time: the client measures the relay.
                    ev = TokensGenerated(tenant_id="dev", request_id=rid, conversation_id=rid,
                                         attempt="a", seq=seq, text=f"{time.time():.6f} ")
                    await producer.send(topic_name(TOKENS, prefix), ev.model_dump_json().encode(),
                                        key=f"dev:{rid}".encode())
                # Keep the schedule: 20 ticks a second across all streams.
                due = start + (seq - 1 + (slot + 1) / slots) / RATE
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        for rid in rids:
            done = AnswerFinished(tenant_id="dev", request_id=rid, conversation_id=rid,
                                  attempt="a", seq=ticks + 1, message_id=rid, usage=Usage(),
                                  finish_reason="stop")
            await producer.send(topic_name(TOKENS, prefix), done.model_dump_json().encode(),
                                key=f"dev:{rid}".encode())
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


def _producer_process(prefix: str, rids: list[str], seconds: float) -> None:
    asyncio.run(_produce(prefix, rids, seconds))


async def level(url: str, prefix: str, n: int, seconds: float, edge_pid: int
                ) -> tuple[float, float, float, int, float]:
    rids = [str(uuid.uuid4()) for _ in range(n)]
    arrivals: dict[str, list[float]] = {rid: [] for rid in rids}
    failures: list[str] = []
    rss_before = _rss_mb(edge_pid)
    # The producer runs in its own process: its event loop does not delay the clients'.
    producing = multiprocessing.Process(target=_producer_process, args=(prefix, rids, seconds))
    producing.start()
    await asyncio.sleep(0.5)
    clients = [asyncio.create_task(_client(url, rid, arrivals[rid], failures)) for rid in rids]
    await asyncio.sleep(1.0 + seconds / 2)
    rss_mid = _rss_mb(edge_pid)
    await asyncio.to_thread(producing.join)
    await asyncio.wait(clients, timeout=30)
    for task in clients:
        task.cancel()
    lat_ms = [x for values in arrivals.values() for x in values]
    expected = n * int(seconds * RATE)
    if len(lat_ms) < expected:
        failures.append(f"{expected - len(lat_ms)} tokens missing")
    per_stream_kb = (rss_mid - rss_before) * 1024 / n if n else 0.0
    return pct(lat_ms, 0.5), pct(lat_ms, 0.99), rss_mid, len(failures), per_stream_kb


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="100,250,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/img/streams.png")
    args = parser.parse_args()
    levels = [20] if args.quick else [int(x) for x in args.levels.split(",")]
    seconds = 2 if args.quick else args.seconds
    require(KAFKA, "Kafka")
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CHATSTREAM_DATA_DIR": tmp, "CHATSTREAM_TOPIC_PREFIX": prefix,
               "CHATSTREAM_LOG_LEVEL": "WARNING", "CHATSTREAM_BROKER": f"kafka://{KAFKA}",
               "CHATSTREAM_PARTITIONS": "12"}
        edge = Proc("chatstream.cli", ["edge", "--port", "0"], Path(tmp) / "edge.log",
                    "listening on", env)
        try:
            assert edge.url
            for n in levels:
                p50, p99, rss, failed, kb = await level(edge.url, prefix, n, seconds,
                                                       edge.proc.pid)
                rows.append([n, p50, p99, failed, rss, kb])
                print(f"  {n} streams: relay p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                      f"{failed} failed", flush=True)
                if p99 > 50 or failed:
                    break
        finally:
            edge.stop()
            drop_topics(prefix)
    print(f"machine: {machine()}; {RATE:.0f} tokens/s per stream, {seconds:.0f} s per level")
    print(table(["streams", "relay p50 ms", "p99 ms", "failed", "edge RSS MB",
                 "KB per stream"], rows))
    if not args.quick and rows:
        names = [str(r[0]) for r in rows]
        bars(args.plot, f"one edge, {RATE:.0f} tokens/s per stream",
             [("relay latency p99 (ms)", names, [float(r[2]) for r in rows], 50.0),
              ("edge RSS (MB)", names, [float(r[4]) for r in rows], None)])
        print(f"plot: {args.plot.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
