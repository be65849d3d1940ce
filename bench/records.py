"""Every answer's records counted: what one answer writes to Kafka (records and bytes by
topic) and to Cassandra (statements by kind), on the production shape (an edge and the
retrieval, inference and other-stages workers on Kafka + Cassandra), at one SSE frame per
upstream chunk and at the default coalescing.

Answers go through `/v1/chat/completions` (the official ``openai`` client, as the suite
drives them), a few at a time; the counts are taken once every stage is done (the topics'
end offsets stop moving), from the topics of the stack's own prefix and from each
process's ``chatstream_store_statements_total``. Both divided by the answers asked.

    python -m bench.records --answers 40          (part of make bench)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bench.common import START_S, Proc, free_port
from bench.stacks import Stack, start_stack
from harness.servers import KAFKA

__all__ = ("count_answers", "counted", "render", "statements")

def _metric_urls(stack: Stack) -> list[str]:
    """The /metrics of every chatstream process of the stack (the edge's API address, the
    workers' metrics address: the first each printed)."""
    return [f"{p.url}/metrics" for p in stack._stop if isinstance(p, Proc) and p.url]


async def _statements(urls: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    pattern = re.compile(r'^chatstream_store_statements_total\{kind="([^"]+)"\} (\S+)$', re.M)
    async with httpx.AsyncClient(timeout=10) as client:
        for url in urls:
            text = (await client.get(url)).text
            for kind, value in pattern.findall(text):
                counts[kind] += int(float(value))
    return counts


async def _topics(prefix: str) -> dict[str, tuple[int, int]]:
    """Records and bytes (key + value + headers) of every topic with ``prefix``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith(prefix))
        consumer.subscribe(topics)
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        parts = list(consumer.assignment())
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        out: dict[str, list[int]] = {t.removeprefix(prefix): [0, 0] for t in topics}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500,
                                                       max_records=5000)).items():
                row = out[tp.topic.removeprefix(prefix)]
                for r in records:
                    if r.offset < ends[tp]:
                        row[0] += 1
                        row[1] += (len(r.key or b"") + len(r.value or b"")
                                   + sum(len(k) + len(v or b"") for k, v in r.headers or ()))
            positions = [await consumer.position(tp) for tp in parts]
            if all(at >= ends[tp] for at, tp in zip(positions, parts, strict=True)):
                break
    finally:
        await consumer.stop()
    return {t: (n, size) for t, (n, size) in out.items() if n}


async def _settled(prefix: str, quiet_s: float = 3.0) -> None:
    """Wait until no topic of the stack has grown for ``quiet_s`` (every stage is done)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        last: dict[Any, int] = {}
        still = 0.0
        while still < quiet_s:
            topics = [t for t in await consumer.topics() if t.startswith(prefix)]
            parts = [TopicPartition(t, p) for t in topics
                     for p in consumer.partitions_for_topic(t) or ()]
            ends = await consumer.end_offsets(parts) if parts else {}
            still = still + 0.5 if ends == last else 0.0
            last = ends
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


def statements(stack: Stack) -> Counter[str]:
    """Cassandra statements the stack's processes have sent so far, by kind."""
    return asyncio.run(_statements(_metric_urls(stack)))


def counted(stack: Stack, before: Counter[str], mode: str) -> dict[str, Any]:
    """Once the stack is quiet: its records and bytes by topic and its statements by kind
    since ``before``, per answer (an answer is one record of chat.responses.v1)."""
    prefix = stack._cleanup["prefix"]
    asyncio.run(_settled(prefix))
    after = statements(stack)
    topics = asyncio.run(_topics(prefix))
    answers = topics.get("chat.responses.v1", (0, 0))[0]
    if not answers:
        raise RuntimeError(f"{stack.name}: no answer on chat.responses.v1 to count")
    return {
        "mode": mode, "answers": answers,
        "topics": {t: {"records": n / answers, "bytes": size / answers}
                   for t, (n, size) in sorted(topics.items())},
        "statements": {k: (after[k] - before[k]) / answers for k in sorted(after)
                       if after[k] - before[k] > 0},
        "processes_counted": len(_metric_urls(stack)),
    }


def count_answers(tmp: Path, model_url: str, answers: int, *, per_chunk: bool,
                  streams: int = 4) -> dict[str, Any]:
    """One stack: ``answers`` answers asked, every record and statement they caused."""
    from bench.sidebyside import LoadGen  # which counts with this module after its runs

    workdir = tmp / ("per-chunk" if per_chunk else "coalesced")
    workdir.mkdir(parents=True, exist_ok=True)
    stack: Stack = start_stack("kafka", workdir, model_url, chunk_per_frame=per_chunk)
    try:
        if len(_metric_urls(stack)) != 4:
            raise RuntimeError("expected the edge and 3 workers to serve /metrics")
        before = statements(stack)
        load = LoadGen(stack, workdir / "loadgen.log")
        try:
            run = load.ask(op="run", streams=streams, requests=max(1, answers // streams))
        finally:
            load.stop()
        out = counted(stack, before, "one frame per upstream chunk" if per_chunk
                      else "default coalescing")
    finally:
        stack.stop()
    out["frames_per_answer"] = sum(run["frames"]) / len(run["frames"]) if run["frames"] else 0
    return out


def render(rows: list[dict[str, Any]]) -> str:
    """Markdown tables: records and bytes per answer by topic, statements by kind."""
    topics = sorted({t for r in rows for t in r["topics"]})
    head = " | ".join(f"{r['mode']}: records | bytes" for r in rows)
    lines = [f"| topic | {head} |", "|---|" + "---:|---:|" * len(rows)]
    for t in topics:
        cells = " | ".join(
            f"{r['topics'].get(t, {}).get('records', 0):.2f} | "
            f"{r['topics'].get(t, {}).get('bytes', 0):,.0f}" for r in rows)
        lines.append(f"| {t} | {cells} |")
    totals = " | ".join(
        f"**{sum(v['records'] for v in r['topics'].values()):.1f}** | "
        f"**{sum(v['bytes'] for v in r['topics'].values()):,.0f}**" for r in rows)
    lines.append(f"| all | {totals} |")
    kinds = sorted({k for r in rows for k in r["statements"]})
    lines += ["", "| Cassandra statement | " + " | ".join(r["mode"] for r in rows) + " |",
              "|---|" + "---:|" * len(rows)]
    for k in kinds:
        lines.append(f"| `{k}` | " + " | ".join(
            f"{r['statements'].get(k, 0):.2f}" for r in rows) + " |")
    lines.append("| all | " + " | ".join(
        f"**{sum(r['statements'].values()):.2f}**" for r in rows) + " |")
    counted_over = ", ".join(f"{r['mode']}: {r['answers']} answers" for r in rows)
    return "\n".join(lines) + f"\n\nCounted over {counted_over}.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=50, help="chunks per answer upstream")
    parser.add_argument("--pace-ms", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also save the rows here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-records-") as tmp:
        fake = Proc("harness.fake_models",
                    ["--port", str(free_port()), "--tokens", str(args.tokens),
                     "--pace-ms", str(args.pace_ms)], Path(tmp) / "fake.log",
                    "fake model server", timeout=START_S)
        try:
            rows = [count_answers(Path(tmp), f"{fake.url}/v1", args.answers, per_chunk=p)
                    for p in (True, False)]
        finally:
            fake.stop()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(render(rows))


if __name__ == "__main__":
    main()
