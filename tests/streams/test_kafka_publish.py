"""A broker that no longer accepts a producer's sequence numbers (it restarted without its
producer state, as after kill -9) stops being an outage that never ends: the publisher
replaces its producer, the failed send is retried by the caller, and the log goes on."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from harness.cleanup import drop_topics
from harness.servers import KAFKA, require
from kernel.errors import LogUnavailable
from schemas.stages import topic_name
from schemas.topics import REQUESTS
from streams.runtime.kafka.clients import partition_of
from streams.runtime.kafka.runtime import KafkaRuntime
from tests.support.events import message_received as _request


@contextlib.asynccontextmanager
async def _runtime(tmp_path: Path, partitions: int,
                   ) -> AsyncIterator[tuple[KafkaRuntime, str]]:
    """A Kafka runtime on topics of its own (their prefix), dropped afterwards."""
    require(KAFKA, "Kafka")
    prefix = f"pub-{uuid.uuid4().hex[:8]}."
    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=partitions,
                           data_dir=tmp_path)
    await runtime.start()
    try:
        yield runtime, prefix
    finally:
        await runtime.stop()
        drop_topics(prefix)


async def test_a_producer_out_of_sequence_is_replaced_and_publishing_goes_on(
        tmp_path: Path) -> None:
    async with _runtime(tmp_path, 1) as (runtime, prefix):
        publisher = runtime.publisher
        await publisher.publish(REQUESTS, "k", _request("first"))
        # What the broker sees after losing its producer state: sequence numbers that do
        # not follow the last one it kept. Before, every later publish failed the same way.
        producer = runtime._producer
        assert producer is not None
        old = producer.current
        txn = old._txn_manager
        assert txn is not None
        tp = TopicPartition(topic_name(REQUESTS, prefix), 0)
        txn.increment_sequence_number(tp, 5)
        with pytest.raises(LogUnavailable, match="OutOfOrderSequenceNumber"):
            await publisher.publish(REQUESTS, "k", _request("lost in the gap"))
        assert producer.current is not old
        await publisher.publish(REQUESTS, "k", _request("retried"))

        consumer = AIOKafkaConsumer(topic_name(REQUESTS, prefix), bootstrap_servers=KAFKA,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[str] = []
            while len(got) < 2:
                for records in (await consumer.getmany(timeout_ms=2000)).values():
                    got += [json.loads(r.value)["text"] for r in records]
        finally:
            await consumer.stop()
        assert got == ["first", "retried"]


# Kafka's own test vectors for the Java client's murmur2 (UtilsTest.testMurmur2), signed.
JAVA_MURMUR2 = {b"21": -973932308, b"foobar": -790332482,
                b"a-little-bit-long-string": -985981536, b"abc": 479470107}


def test_a_key_goes_to_the_partition_the_java_client_would_choose() -> None:
    for key, java in JAVA_MURMUR2.items():
        for n in (1, 3, 12, 64):
            parts = list(range(n))
            # Twice: the second answer comes from the remembered hash.
            assert partition_of(key, parts, parts) == (java & 0x7FFFFFFF) % n
            assert partition_of(key, parts, parts) == (java & 0x7FFFFFFF) % n
    assert partition_of(None, [0, 1, 2], [1]) == 1  # no key: an available partition


async def test_records_of_one_key_land_on_its_partition(tmp_path: Path) -> None:
    async with _runtime(tmp_path, 12) as (runtime, prefix):
        for key in JAVA_MURMUR2:
            await runtime.publisher.publish(REQUESTS, key.decode(), _request(key.decode()))
        consumer = AIOKafkaConsumer(topic_name(REQUESTS, prefix), bootstrap_servers=KAFKA,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            where: dict[str, int] = {}
            while len(where) < len(JAVA_MURMUR2):
                for tp, records in (await consumer.getmany(timeout_ms=2000)).items():
                    where.update({json.loads(r.value)["text"]: tp.partition for r in records})
        finally:
            await consumer.stop()
        assert where == {k.decode(): (java & 0x7FFFFFFF) % 12
                         for k, java in JAVA_MURMUR2.items()}
