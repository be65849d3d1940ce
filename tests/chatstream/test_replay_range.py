"""``chatstream replay --topic T --since …``: the records of a time range of a topic are
published again as they were, and nothing before the range."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from chatstream.replay import replay_range
from harness.cleanup import drop_topics
from harness.servers import KAFKA, require
from kernel.settings import Settings
from schemas.stages import topic_name
from schemas.topics import REQUESTS
from streams.runtime.kafka.runtime import KafkaRuntime
from tests.support.events import message_received


async def _texts(prefix: str, count: int) -> list[str]:
    consumer = AIOKafkaConsumer(topic_name(REQUESTS, prefix), bootstrap_servers=KAFKA,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        got: list[str] = []
        async with asyncio.timeout(30):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    got += [json.loads(r.value)["text"] for r in records]
        return got
    finally:
        await consumer.stop()


async def test_a_range_of_a_topic_is_published_again(tmp_path: Path) -> None:
    require(KAFKA, "Kafka")
    prefix = f"replay-{uuid.uuid4().hex[:8]}."
    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=2, data_dir=tmp_path)
    await runtime.start()
    try:
        for text in ("before 1", "before 2"):
            await runtime.publisher.publish(REQUESTS, "k", message_received(text))
        await asyncio.sleep(0.05)
        since = datetime.now(UTC)
        await asyncio.sleep(0.05)
        for text in ("in 1", "in 2", "in 3"):
            await runtime.publisher.publish(REQUESTS, "k", message_received(text))
        settings = Settings(broker=f"kafka://{KAFKA}", topic_prefix=prefix)
        assert await replay_range(settings, REQUESTS.name, since=since, until=None,
                                  dry_run=True) == 3
        assert await replay_range(settings, REQUESTS.name, since=since, until=None,
                                  dry_run=False) == 3
        assert await _texts(prefix, 8) == ["before 1", "before 2", "in 1", "in 2", "in 3",
                                           "in 1", "in 2", "in 3"]
    finally:
        await runtime.stop()
        drop_topics(prefix)
