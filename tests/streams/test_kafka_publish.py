"""A broker that no longer accepts a producer's sequence numbers (it restarted without its
producer state, as after kill -9) stops being an outage that never ends: the publisher
replaces its producer, the failed send is retried by the caller, and the log goes on."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from harness.cleanup import drop_topics
from harness.servers import KAFKA, require
from kernel.errors import LogUnavailable
from schemas.stages import topic_name
from schemas.topics import REQUESTS
from streams.runtime.kafka.runtime import KafkaRuntime
from tests.support.events import message_received as _request


async def test_a_producer_out_of_sequence_is_replaced_and_publishing_goes_on(
        tmp_path: Path) -> None:
    require(KAFKA, "Kafka")
    prefix = f"seq-{uuid.uuid4().hex[:8]}."
    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
    await runtime.start()
    try:
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
    finally:
        await runtime.stop()
        drop_topics(prefix)
