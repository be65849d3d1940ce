"""The stages of one worker process share one Faust app and one consumer group, the
process's role's; stages that ran in groups of their own move to it with nothing handled
twice or skipped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.consumer import Consumer

from harness.cleanup import drop_topics
from harness.servers import KAFKA, require
from schemas.events import MessageReceived
from schemas.stages import group_name, topic_name
from schemas.topics import REQUESTS
from streams.runtime.base import CURRENT_RECORD, Emit, StageSpec, StageState
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


async def test_a_slow_stage_gets_every_record_of_a_backlog_read_while_the_worker_recovers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker restarted with a backlog: its stages (one with a table, as analytics has)
    are handed records while Faust finishes recovering. The slow stage's queued records
    are still its to handle when recovery ends: none dropped (a request persistence stored
    and retrieval never saw stayed unanswered, tests/faults/test_crash_kafka.py)."""
    prefix, topic = _names()
    seeked = asyncio.Event()
    seek = Consumer.perform_seek

    async def slow_seek(self: Consumer) -> None:
        # Seeking the committed offsets takes a while on a loaded machine (1.3 s in a
        # crash run at load 3), and the fetcher keeps delivering meanwhile.
        await seek(self)
        seeked.set()
        await asyncio.sleep(2.0)

    fast: list[int] = []
    slow: list[int] = []

    async def slow_handler(event: MessageReceived) -> AsyncIterator[Emit]:
        record = CURRENT_RECORD.get()
        assert record is not None
        await seeked.wait()
        await asyncio.sleep(0.5)
        slow.append(record.offset)
        return
        yield  # an async generator that emits nothing

    state = StageState("t")

    async def tabled_handler(event: MessageReceived) -> AsyncIterator[Emit]:
        record = CURRENT_RECORD.get()
        assert record is not None
        state.store[str(record.offset)] = 1  # its changelog: recovered at the next start
        fast.append(record.offset)
        return
        yield  # an async generator that emits nothing

    tabled = StageSpec("fast", (REQUESTS,), tabled_handler, state=state)
    edge = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
    await edge.start()
    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
    await runtime.start([tabled])
    try:
        await edge.publisher.publish(REQUESTS, "k", _request("m0"))

        async def committed() -> bool:
            return (await _committed(group_name("fast", prefix))).get(topic, -1) >= 1
        await until(committed, 120, what="the first run's commit", every=0.2)
        await runtime.stop()
        for i in range(1, 7):
            await edge.publisher.publish(REQUESTS, "k", _request(f"m{i}"))
        fast.clear()
        monkeypatch.setattr(Consumer, "perform_seek", slow_seek)
        runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
        await runtime.start([tabled, StageSpec("slow", (REQUESTS,), slow_handler)])
        await until(lambda: len(fast) >= 6, 120, what="the fast stage", every=0.2)
        await until(lambda: len(slow) >= 7, 30, what="the slow stage's backlog", every=0.2)
    finally:
        await runtime.stop()
        await edge.stop()
        drop_topics(prefix)
    assert fast == list(range(1, 7))
    assert slow == list(range(7))
