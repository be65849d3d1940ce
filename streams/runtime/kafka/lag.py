"""Consumer lag on Kafka: the committed offsets (admin API) of the group each stage runs
in (its role's) against the partitions' end offsets."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.stages import group_name, stage_info, topic_name
from streams.runtime.kafka import clients
from streams.runtime.kafka.groups import groups_by_stage
from streams.runtime.lag import Offsets

__all__ = ("KafkaLag",)


class KafkaLag:
    """Committed and end offsets of the groups stages run in on a Kafka cluster."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = clients.admin(self._bootstrap, client_id="chatstream-lag")
        await self._admin.start()
        self._consumer = clients.reader(self._bootstrap, client_id="chatstream-lag")
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def offsets(self, stages: Sequence[str]) -> list[Offsets]:
        if self._admin is None or self._consumer is None:
            raise RuntimeError("KafkaLag.start() was not called")
        runs_in = await groups_by_stage(self._admin, self._prefix)
        committed: dict[str, dict[TopicPartition, int]] = {}
        for stage in stages:
            reads = {topic_name(t, self._prefix) for t in stage_info(stage).inputs}
            best: dict[TopicPartition, int] = {}
            # A stage may have offsets in more than one group: its own from before it
            # moved to a role (docs/scaling.md, "Roles"). The one furthest ahead is live.
            for group in runs_in.get(stage, [group_name(stage, self._prefix)]):
                found = await self._admin.list_consumer_group_offsets(group)
                offsets = {tp: meta.offset for tp, meta in found.items()
                           if meta.offset >= 0 and tp.topic in reads}
                if sum(offsets.values()) > sum(best.values()):
                    best = offsets
            committed[stage] = best
        # Every partition of each topic a group has committed on: a partition it has not
        # committed yet is read from its beginning.
        topics = {tp.topic for offsets in committed.values() for tp in offsets}
        tps = await clients.partitions(self._consumer, *sorted(topics))
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
