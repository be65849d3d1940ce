"""Throughput of one stage with 1, 2 and 4 worker processes on a 12-partition topic.

For each stage and worker count: a fresh topic prefix with 12 partitions, N worker
processes (`chatstream worker STAGE`) started and waited for until their consumer group is
stable with N members, then a burst of M input events (one conversation each, so they
spread over every partition) produced in one go. Throughput is M divided by the time
from the first to the last output event (Kafka record timestamps of the stage's output
topic): the rate at which the group drains a backlog. Group formation is timed apart.

    python -m bench.stage_scaling [--messages 2000] [--workers 1,2,4]
                                  [--stages inference,scoring] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import ROOT, machine, table
from harness.cleanup import drop_topics
from harness.process import ChatstreamProcess
from harness.servers import KAFKA, require
from schemas import events
from schemas.stages import group_name, topic_name
from schemas.topics import CONTEXTS, RESPONSES, SCORES, TopicSpec
from streams.codec import encode
from streams.runtime.kafka.runtime import create_topics

PARTITIONS = 12
QUESTION = "Remember that the staging cluster lives in rack 14 next to the router."
# stage: (input topic, output topic counted)
STAGE_IO: dict[str, tuple[TopicSpec, TopicSpec]] = {
    "inference": (CONTEXTS, RESPONSES),
    "scoring": (RESPONSES, SCORES),
}


@dataclass(frozen=True)
class Result:
    stage: str
    workers: int
    messages: int
    seconds: float
    group_ready_s: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("nan")


def _input(stage: str, i: int) -> tuple[str, events.Envelope]:
    cid = f"c{i:06d}-{uuid.uuid4().hex[:6]}"
    request = events.MessageReceived(
        tenant_id="bench", request_id=str(uuid.uuid4()), message_id=str(uuid.uuid4()),
        conversation_id=cid, user_id="u", text=QUESTION, model="local")
    if stage == "inference":
        return f"bench:{cid}", events.ContextBuilt(tenant_id="bench", request=request)
    return f"bench:{cid}", events.ResponseCompleted(
        tenant_id="bench", request_id=request.request_id, message_id=str(uuid.uuid4()),
        conversation_id=cid, user_id="u", reply_to=request.message_id, prompt=QUESTION,
        text="The staging cluster lives in rack 14, next to the router. Thanks!",
        model="local", provider="local", usage=events.Usage(prompt_tokens=14,
                                                              completion_tokens=12),
        finish_reason="stop", attempt="a1", duration_ms=12.0)


async def _group_members(admin: AIOKafkaAdminClient, group: str) -> tuple[str, int]:
    response = (await admin.describe_consumer_groups([group]))[0]
    group_info = response.to_object()["groups"][0]
    return group_info["state"], len(group_info["members"])


async def _output_count(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> int:
    ends = await consumer.end_offsets(tps)
    return sum(ends.values())


async def _output_span(bootstrap: str, topic: str) -> tuple[int, int, int]:
    """(records, first timestamp ms, last timestamp ms) of a whole topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        stamps: list[int] = []
        while sum(ends.values()) > len(stamps):
            batch = await consumer.getmany(timeout_ms=1000)
            for msgs in batch.values():
                stamps += [m.timestamp for m in msgs]
        return len(stamps), min(stamps), max(stamps)
    finally:
        await consumer.stop()


async def measure(stage: str, workers: int, messages: int, workdir: Path) -> Result:
    prefix = f"bench-scale-{uuid.uuid4().hex[:8]}."
    source, sink = STAGE_IO[stage]
    await create_topics(KAFKA, prefix=prefix, partitions=PARTITIONS, replication=1)
    env = {"CHATSTREAM_BROKER": f"kafka://{KAFKA}", "CHATSTREAM_TOPIC_PREFIX": prefix,
           "CHATSTREAM_PARTITIONS": str(PARTITIONS), "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "0",
           "CHATSTREAM_LOG_LEVEL": "WARNING",
           # Several workers on one machine: each takes any free port for its metrics.
           "CHATSTREAM_WORKER_PORT": "0"}
    procs: list[ChatstreamProcess] = []
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=5)
    await producer.start()
    watcher = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None)
    await watcher.start()
    try:
        started = time.perf_counter()
        for i in range(workers):
            data = workdir / f"{stage}-{workers}-{i}"
            procs.append(ChatstreamProcess(
                ["worker", stage],
                {**env, "CHATSTREAM_DATA_DIR": str(data),
                 "CHATSTREAM_STORE": f"sqlite:///{data}/store.db"},
                workdir / f"{stage}-{workers}-{i}.log", ready="workers running"))
        await asyncio.gather(*(asyncio.to_thread(p.start, 180) for p in procs))
        group = group_name(stage, prefix)
        while True:  # polling the broker: there is no event to wait on
            if await _group_members(admin, group) == ("Stable", workers):
                break
            await asyncio.sleep(0.25)
        group_ready = time.perf_counter() - started

        for i in range(messages):
            key, event = _input(stage, i)
            await producer.send(topic_name(source, prefix), value=encode(event), key=key.encode())
        await producer.flush()

        tps = [TopicPartition(topic_name(sink, prefix), p) for p in range(PARTITIONS)]
        deadline = time.monotonic() + 600
        while await _output_count(watcher, tps) < messages:
            if time.monotonic() > deadline:
                raise AssertionError(f"{stage} x{workers}: outputs missing; "
                                     + procs[0].tail(20))
            await asyncio.sleep(0.2)
        async with asyncio.timeout(120):
            count, first, last = await _output_span(KAFKA, topic_name(sink, prefix))
        return Result(stage, workers, count, (last - first) / 1000, group_ready)
    finally:
        await watcher.stop()
        await producer.stop()
        await admin.close()
        for p in procs:
            p.stop()
        drop_topics(prefix)


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for stage in dict.fromkeys(r.stage for r in results):
        rows = [r for r in results if r.stage == stage]
        ax.plot([r.workers for r in rows], [r.rate for r in rows], marker="o", label=stage)
        base = rows[0].rate / rows[0].workers
        ax.plot([r.workers for r in rows], [base * r.workers for r in rows], ls=":",
                color=ax.lines[-1].get_color(), alpha=0.6)
    ax.set_xlabel("worker processes (12 partitions; dotted: linear scaling)")
    ax.set_ylabel("events / s")
    ax.set_xticks(sorted({r.workers for r in results}))
    ax.set_title(f"stage throughput by worker processes ({machine()})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--stages", default="inference,scoring")
    parser.add_argument("--quick", action="store_true",
                        help="scoring only, 1 and 2 workers, 100 messages, no plot")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/img/stage_scaling.png")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: where is it waiting?
    require(KAFKA, "Kafka")
    stages = ["scoring"] if args.quick else args.stages.split(",")
    counts = [1, 2] if args.quick else [int(n) for n in args.workers.split(",")]
    messages = 100 if args.quick else args.messages
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for stage in stages:
            for n in counts:
                results.append(await measure(stage, n, messages, Path(tmp)))
                r = results[-1]
                print(f"{stage} x{n}: {r.rate:.0f} events/s", flush=True)
    print(f"machine: {machine()}; {PARTITIONS} partitions; {messages} events per run")
    base = {r.stage: r.rate for r in results if r.workers == counts[0]}
    print(table(["stage", "workers", "events", "seconds", "events/s", "x of 1 worker",
                 "group ready s"],
                [[r.stage, r.workers, r.messages, r.seconds, r.rate,
                  f"{r.rate / base[r.stage]:.2f}", r.group_ready_s] for r in results]))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ | {"rate": r.rate} for r in results]))
    if not args.quick:
        plot(results, args.plot)
        print(f"plot: {args.plot.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
