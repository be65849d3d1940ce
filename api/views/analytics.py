"""The edge's view of analytics: the newest snapshot of each tenant and partition, read
from the compacted ``analytics.summary.v1`` topic, summed over partitions on request.

The edge never talks to the analytics worker: the topic is the product, so any number of
edges (and any other consumer) read the same numbers, and a restarted edge rebuilds its
view from the topic alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.views.topicview import TopicView
from kernel.errors import PoisonEvent
from schemas.analytics import AnalyticsSummary, AssistantSummary, WindowSummary
from schemas.events import AnalyticsSnapshot, WindowAggregate
from schemas.topics import ANALYTICS
from streams.codec import decode
from streams.runtime.base import Record, Runtime

__all__ = ("AnalyticsView", "percentile")

log = logging.getLogger(__name__)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _merge(start: datetime, parts: Iterable[WindowAggregate]) -> WindowSummary:
    parts = list(parts)
    out = WindowSummary(start=start)
    quality = 0.0
    ttft: dict[str, list[float]] = {}
    for w in parts:
        out.messages += w.messages
        out.responses += w.responses
        out.prompt_tokens += w.prompt_tokens
        out.completion_tokens += w.completion_tokens
        out.scored += w.scored
        out.leads += w.leads
        quality += w.quality_sum
        for mix, src in ((out.intents, w.intents), (out.sentiments, w.sentiments)):
            for k, n in src.items():
                mix[k] = mix.get(k, 0) + n
        for model, samples in w.ttft_ms.items():
            ttft.setdefault(model, []).extend(samples)
    out.tokens = out.prompt_tokens + out.completion_tokens
    out.mean_quality = round(quality / out.scored, 6) if out.scored else None
    out.p95_ttft_ms = {m: percentile(s, 95) for m, s in sorted(ttft.items()) if s}
    out.assistants = _assistants(parts)
    return out


def _assistants(parts: Iterable[WindowAggregate]) -> dict[str, AssistantSummary]:
    sums: dict[str, AssistantSummary] = {}
    quality: dict[str, float] = {}
    for w in parts:
        for key, a in w.assistants.items():
            s = sums.setdefault(key, AssistantSummary())
            s.messages += a.messages
            s.responses += a.responses
            s.tokens += a.prompt_tokens + a.completion_tokens
            s.scored += a.scored
            quality[key] = quality.get(key, 0.0) + a.quality_sum
    for key, s in sums.items():
        s.mean_quality = round(quality[key] / s.scored, 6) if s.scored else None
    return dict(sorted(sums.items()))


class AnalyticsView:
    def __init__(self, runtime: Runtime, group: str) -> None:
        self._runtime = runtime
        self.group = group
        self._latest: dict[tuple[str, int], AnalyticsSnapshot] = {}
        # The topic is compacted: from its start, the newest snapshot of each key.
        self._view = TopicView(runtime, ANALYTICS, self.apply, since_ms=0,
                               name="analytics-view", interactive=False)

    async def start(self) -> None:
        await self._view.start()

    async def stop(self) -> None:
        await self._view.stop()

    def apply(self, record: Record) -> None:
        try:
            snap = decode(ANALYTICS, record.value)
        except PoisonEvent:
            log.warning("analytics: undecodable snapshot at offset %d", record.offset)
            return
        if isinstance(snap, AnalyticsSnapshot) and snap.group == self.group:
            self._latest[(snap.tenant_id, snap.partition)] = snap

    def tenants(self) -> set[str]:
        return {tenant for tenant, _ in self._latest}

    def summary(self, tenant_id: str, granularity: str,
                since: datetime | None = None) -> AnalyticsSummary:
        snaps = [s for (t, _), s in self._latest.items() if t == tenant_id]
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)  # ?since=2026-12-08: windows are in UTC
        by_start: dict[datetime, list[WindowAggregate]] = {}
        for snap in snaps:
            for w in snap.minutes if granularity == "minutes" else snap.hours:
                if since is None or w.start >= since:
                    by_start.setdefault(w.start, []).append(w)
        windows = [_merge(start, parts) for start, parts in sorted(by_start.items())]
        every = [w for parts in by_start.values() for w in parts]
        return AnalyticsSummary(
            tenant_id=tenant_id, group=self.group,
            granularity="minutes" if granularity == "minutes" else "hours",
            lead_threshold=snaps[0].lead_threshold if snaps else None,
            partitions=len(snaps), windows=windows,
            totals=_merge(windows[0].start, every) if windows else None)

    def collector(self, tenant_id: str | None = None) -> Collector:
        """Prometheus gauges of the current hour of ``tenant_id``, or (None: for the
        operator only) of every tenant."""
        return _Gauges(self, tenant_id)


class _Gauges(Collector):
    def __init__(self, view: AnalyticsView, tenant_id: str | None) -> None:
        self._view = view
        self._tenant_id = tenant_id

    def collect(self) -> Iterable[GaugeMetricFamily]:
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        names = {
            "messages": "messages this hour",
            "tokens": "prompt and completion tokens this hour",
            "mean_quality": "mean quality score of answers this hour",
            "leads": "turns at or above the lead threshold this hour",
        }
        families = {n: GaugeMetricFamily(f"chatstream_analytics_{n}", doc, labels=["tenant"])
                    for n, doc in names.items()}
        ttft = GaugeMetricFamily("chatstream_analytics_ttft_p95_ms",
                                 "p95 time to first token this hour", labels=["tenant", "model"])
        intents = GaugeMetricFamily("chatstream_analytics_intents", "answered turns this "
                                    "hour by intent", labels=["tenant", "intent"])
        tenants = self._view.tenants()
        if self._tenant_id is not None:
            tenants &= {self._tenant_id}
        for tenant in sorted(tenants):
            summary = self._view.summary(tenant, "hours", since=hour)
            now = summary.windows[-1] if summary.windows else WindowSummary(start=hour)
            for n, family in families.items():
                value = getattr(now, n)
                if value is not None:
                    family.add_metric([tenant], float(value))
            for model, ms in now.p95_ttft_ms.items():
                ttft.add_metric([tenant, model], ms)
            for intent, count in now.intents.items():
                intents.add_metric([tenant, intent], float(count))
        yield from (*families.values(), ttft, intents)
