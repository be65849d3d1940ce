"""Consumer lag per stage and partition: the records of each stage's input partitions
that its consumer group has not committed yet.

From Kafka, the group's committed offsets (admin API) against the partitions' end
offsets; from the embedded log, its committed offsets against its lengths. Every
process measures the lag of every stage (a few cheap requests), so a stopped stage's
lag still shows: on the edge, and in ``chatstream status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from kernel.telemetry.metrics import CONSUMER_LAG
from schemas.stages import group_name

__all__ = ("KafkaLag", "LagSource", "Offsets", "lag_monitor")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Offsets:
    stage: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


class LagSource(Protocol):
    async def offsets(self, stages: Sequence[str]) -> list[Offsets]: ...


class KafkaLag:
    """Committed and end offsets of stages' consumer groups on a Kafka cluster."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap,
                                          client_id="chatstream-lag")
        await self._admin.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None,
                                          enable_auto_commit=False,
                                          client_id="chatstream-lag")
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def offsets(self, stages: Sequence[str]) -> list[Offsets]:
        if self._admin is None or self._consumer is None:
            raise RuntimeError("KafkaLag.start() was not called")
        committed: dict[str, dict[TopicPartition, int]] = {}
        for stage in stages:
            found = await self._admin.list_consumer_group_offsets(group_name(stage, self._prefix))
            committed[stage] = {tp: meta.offset for tp, meta in found.items()
                                if meta.offset >= 0}
        # Every partition of each topic a group has committed on: a partition it has not
        # committed yet is read from its beginning.
        topics = {tp.topic for offsets in committed.values() for tp in offsets}
        metadata = await self._consumer._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in sorted(topics)
               for p in sorted(metadata.partitions_for_topic(t) or ())]
        if not tps:
            return []
        ends = await self._consumer.end_offsets(tps)
        starts = await self._consumer.beginning_offsets(tps)
        out = []
        for stage, offsets in committed.items():
            for tp in tps:
                if tp.topic in {c.topic for c in offsets}:
                    out.append(Offsets(stage, tp.topic, tp.partition,
                                       offsets.get(tp, starts[tp]), ends[tp]))
        return out


def publish(offsets: Iterable[Offsets]) -> None:
    for o in offsets:
        CONSUMER_LAG.labels(o.stage, o.topic, str(o.partition)).set(o.lag)


async def lag_monitor(source: LagSource, stages: Sequence[str], interval_s: float) -> None:
    """Refresh the consumer lag gauge every ``interval_s`` until cancelled."""
    while True:
        try:
            publish(await source.offsets(stages))
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("consumer lag unavailable: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.sleep(interval_s)
