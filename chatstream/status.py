"""``chatstream status``: each stage's lag, throughput and error rate at a glance.

Lag and throughput come from Kafka (each stage group's committed offsets against the
partitions' ends, sampled twice ``interval`` apart); errors from the processes'
/metrics (``--metrics URL``, repeatable) when given, and from the dead letters of the
last five minutes on chat.dlq.v1 in any case. With the embedded log (inside its own
process) everything comes from that process' /metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kernel.errors import ConfigurationError, PoisonEvent
from kernel.settings import Settings
from schemas.topics import DLQ
from streams.codec import decode
from streams.runtime.kafka import clients
from streams.runtime.kafka.lag import KafkaLag
from streams.runtime.lag import Offsets

__all__ = ("StageStatus", "collect", "render")

DLQ_WINDOW_S = 300.0


@dataclass
class StageStatus:
    stage: str
    lag: int = 0
    worst_partition: str = "-"
    per_s: float | None = None
    handled: float = 0.0
    errors: float = 0.0
    dead_letters_5m: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.handled if self.handled else None


async def _scrape(urls: Sequence[str], token: str) -> dict[tuple[str, str, str, str], float]:
    """Samples of the stage metrics of every process, summed: (metric, stage, topic,
    outcome-or-partition) -> value."""
    out: dict[tuple[str, str, str, str], float] = defaultdict(float)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=5, headers=headers) as client:
        for url in urls:
            r = await client.get(url.rstrip("/") + ("" if url.endswith("/metrics")
                                                    else "/metrics"))
            r.raise_for_status()
            for family in text_string_to_metric_families(r.text):
                for s in family.samples:
                    lb = s.labels
                    if s.name == "chatstream_stage_events_total":
                        out[("events", lb["stage"], "", lb["outcome"])] += s.value
                    elif s.name == "chatstream_consumer_lag":
                        key = ("lag", lb["stage"], lb["topic"], lb["partition"])
                        out[key] = max(out[key], s.value)  # every process reports it
    return out


async def _dead_letters(settings: Settings) -> Counter[str]:
    """Dead letters by stage written in the last DLQ_WINDOW_S."""
    consumer = clients.reader(settings.kafka_bootstrap)
    await consumer.start()
    counts: Counter[str] = Counter()
    try:
        tps = await clients.partitions(consumer, settings.topic(DLQ.name))
        if not tps:
            return counts
        consumer.assign(tps)
        _, left = await clients.seek_to_time(consumer, tps,
                                             int((time.time() - DLQ_WINDOW_S) * 1000))
        async for r in clients.read_to_end(consumer, left):
            try:
                counts[decode(DLQ, r.value).stage] += 1
            except PoisonEvent:
                counts["?"] += 1
    finally:
        await consumer.stop()
    return counts


def _by_stage(offsets: Sequence[Offsets]) -> dict[str, list[Offsets]]:
    grouped: dict[str, list[Offsets]] = defaultdict(list)
    for o in offsets:
        grouped[o.stage].append(o)
    return grouped


async def collect(settings: Settings, stages: Sequence[str], metrics: Sequence[str],
                  interval_s: float = 2.0) -> list[StageStatus]:
    kafka = settings.broker.startswith("kafka://")
    if not kafka and not metrics:
        raise ConfigurationError("the embedded log lives inside `chatstream up`: give its "
                                 "--metrics URL, e.g. --metrics http://127.0.0.1:8000")
    token = settings.metrics_token.get_secret_value()
    lag = KafkaLag(settings.kafka_bootstrap, settings.topic_prefix) if kafka else None
    if lag is not None:
        await lag.start()
    try:
        first = await lag.offsets(stages) if lag else []
        m1 = await _scrape(metrics, token) if metrics else {}
        await asyncio.sleep(interval_s)
        second = await lag.offsets(stages) if lag else []
        m2 = await _scrape(metrics, token) if metrics else {}
        letters = await _dead_letters(settings) if kafka else None
    finally:
        if lag is not None:
            await lag.stop()
    before, after = _by_stage(first), _by_stage(second)
    rows = []
    for stage in stages:
        row = StageStatus(stage)
        if kafka:
            now = after.get(stage, [])
            row.lag = sum(o.lag for o in now)
            worst = max(now, key=lambda o: o.lag, default=None)
            if worst is not None and worst.lag:
                row.worst_partition = f"{worst.topic}[{worst.partition}]={worst.lag}"
            moved = (sum(o.committed for o in now)
                     - sum(o.committed for o in before.get(stage, [])))
            row.per_s = max(0.0, moved) / interval_s if now else None
            if not now:
                row.notes.append("no committed offsets yet")
        else:
            lags = {k: v for k, v in m2.items() if k[0] == "lag" and k[1] == stage}
            row.lag = int(sum(lags.values()))
            if lags:
                k, v = max(lags.items(), key=lambda kv: kv[1])
                if v:
                    row.worst_partition = f"{k[2]}[{k[3]}]={int(v)}"
        if metrics:
            def total(m: dict[tuple[str, str, str, str], float], outcome: str,
                      stage: str = stage) -> float:
                return m.get(("events", stage, "", outcome), 0.0)
            row.handled = total(m2, "in")
            row.errors = total(m2, "error") + total(m2, "dead_letter")
            if not kafka:
                row.per_s = (total(m2, "in") - total(m1, "in")) / interval_s
        if letters is not None:
            row.dead_letters_5m = letters.get(stage, 0)
        rows.append(row)
    return rows


def render(rows: Sequence[StageStatus]) -> str:
    head = ("stage", "lag", "most behind", "events/s", "errors", "error rate", "dlq 5m")
    lines = [head]
    for r in rows:
        rate = r.error_rate
        lines.append((
            r.stage, str(r.lag), r.worst_partition,
            "-" if r.per_s is None else f"{r.per_s:.1f}",
            f"{int(r.errors)}" if r.handled else "-",
            "-" if rate is None else f"{rate:.1%}",
            "-" if r.dead_letters_5m is None else str(r.dead_letters_5m),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)
