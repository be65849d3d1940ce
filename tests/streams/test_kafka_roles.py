"""The stages of one worker process share one Faust app and one consumer group, the
process's role's; stages that ran in groups of their own move to it with nothing handled
twice or skipped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from harness.cleanup import drop_topics
from harness.servers import KAFKA, require
from schemas.events import MessageReceived
from schemas.stages import group_name, topic_name
from schemas.topics import REQUESTS
from streams.runtime.base import CURRENT_RECORD, Emit, StageSpec
from streams.runtime.kafka.runtime import KafkaRuntime
from tests.support.events import message_received as _request
from tests.support.wait import until


def _names() -> tuple[str, str]:
    """A topic prefix of the test's own and its requests topic."""
    require(KAFKA, "Kafka")
    prefix = f"roles-{uuid.uuid4().hex[:8]}."
    return prefix, topic_name(REQUESTS, prefix)


def _recording(name: str, seen: list[int]) -> StageSpec:
    async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
        record = CURRENT_RECORD.get()
        assert record is not None
        seen.append(record.offset)
        return
        yield  # an async generator that emits nothing

    return StageSpec(name, (REQUESTS,), handler)


async def _commit(group: str, topic: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def _committed(group: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.topic: meta.offset for tp, meta in found.items() if meta.offset >= 0}




async def test_stages_moved_from_their_own_groups_to_a_role_resume_where_each_stopped(
        tmp_path: Path) -> None:
    """Stage ``a`` had handled 6 records in its own group, stage ``b`` 3; run together,
    each goes on from its own offset: no record handled twice, none skipped."""
    prefix, topic = _names()
    a_seen: list[int] = []
    b_seen: list[int] = []
    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
    await runtime.start()
    try:
        for i in range(10):
            await runtime.publisher.publish(REQUESTS, "k", _request(f"m{i}"))
        await _commit(group_name("a", prefix), topic, 6)
        await _commit(group_name("b", prefix), topic, 3)
        await runtime.stop()

        runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
        await runtime.start([_recording("a", a_seen), _recording("b", b_seen)])
        await until(lambda: len(a_seen) >= 4 and len(b_seen) >= 7,
                    120, what="the backlog", every=0.2)
        for i in range(10, 12):
            await runtime.publisher.publish(REQUESTS, "k", _request(f"m{i}"))
        await until(lambda: len(a_seen) >= 6 and len(b_seen) >= 9,
                    120, what="the new records", every=0.2)

        async def committed() -> bool:
            return (await _committed(group_name("a.b", prefix))).get(topic, -1) >= 12
        await until(committed, 120, what="the role's commit", every=0.2)
    finally:
        await runtime.stop()
        drop_topics(prefix)
    assert a_seen == list(range(6, 12))
    assert b_seen == list(range(3, 12))


async def test_two_stages_of_one_process_read_a_topic_in_one_group_and_both_see_it_all(
        tmp_path: Path) -> None:
    """A fresh role: both stages get every record, the one group of the role commits
    past all of them, and neither stage's own group is used."""
    prefix, topic = _names()
    a_seen: list[int] = []
    b_seen: list[int] = []
    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
    await runtime.start([_recording("a", a_seen), _recording("b", b_seen)])
    try:
        for i in range(5):
            await runtime.publisher.publish(REQUESTS, "k", _request(f"m{i}"))
        await until(lambda: len(a_seen) >= 5 and len(b_seen) >= 5,
                    120, what="every record", every=0.2)

        async def committed() -> bool:
            return (await _committed(group_name("a.b", prefix))).get(topic, -1) >= 5
        await until(committed, 120, what="the role's commit", every=0.2)
        assert await _committed(group_name("a", prefix)) == {}
        assert await _committed(group_name("b", prefix)) == {}
    finally:
        await runtime.stop()
        drop_topics(prefix)
    assert a_seen == b_seen == list(range(5))


async def test_a_stage_moved_from_one_role_to_another_goes_on_where_it_was(
        tmp_path: Path) -> None:
    """scoring ran with persistence; it now runs with a new stage (analytics, as when
    ANALYTICS_GROUP names a new group): scoring goes on from where it was, the new stage
    reads from the beginning."""
    prefix, topic = _names()
    first: list[int] = []
    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
    await runtime.start([_recording("scoring", first), _recording("persistence", [])])
    try:
        for i in range(6):
            await runtime.publisher.publish(REQUESTS, "k", _request(f"m{i}"))

        async def committed(group: str, at: int) -> bool:
            return (await _committed(group_name(group, prefix))).get(topic, -1) >= at
        await until(lambda: committed("scoring.persistence", 6),
                    120, what="the first role's commit", every=0.2)
        await runtime.stop()

        scoring: list[int] = []
        analytics: list[int] = []
        runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
        await runtime.start([_recording("scoring", scoring),
                             _recording("analytics", analytics)])
        for i in range(6, 8):
            await runtime.publisher.publish(REQUESTS, "k", _request(f"m{i}"))
        await until(lambda: len(scoring) >= 2 and len(analytics) >= 8,
                    120, what="the records", every=0.2)
        await until(lambda: committed("scoring.analytics", 8),
                    120, what="the second role's commit", every=0.2)
    finally:
        await runtime.stop()
        drop_topics(prefix)
    assert first == list(range(6))
    assert scoring == [6, 7]
    assert analytics == list(range(8))
