"""A malformed event on any input topic is dead-lettered by every stage that reads it,
and the pipeline goes on answering."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from harness.servers import KAFKA
from schemas.stages import topic_name
from schemas.topics import CONTEXTS, DLQ, INGEST, REQUESTS, RESPONSES, SCORES
from tests.e2e.chat import ask, new_conversation
from tests.support.stacks import Stack

# Which stages read each input topic, so each must dead-letter what it cannot read.
READERS = {
    REQUESTS.name: {"retrieval", "persistence"},
    CONTEXTS.name: {"inference"},
    RESPONSES.name: {"scoring", "persistence"},
    SCORES.name: {"persistence"},
    INGEST.name: {"ingestion"},
}


POISON = '{"tenant_id": "dev", "garbage": 1'


async def _dead_letters(prefix: str, want: set[tuple[str, str]],
                        timeout: float = 90) -> list[dict[str, str]]:
    """The session's dead letters of this test's poison (other tests dead-letter too)."""
    consumer = AIOKafkaConsumer(topic_name(DLQ, prefix), bootstrap_servers=KAFKA,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(timeout):
            # Other stages read these topics too (analytics, batches): wait for the
            # expected (topic, stage) pairs, not for a count.
            while not {(d["topic"], d["stage"]) for d in got} >= want:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += [d for d in map(json.loads, (r.value for r in records))
                            if d["original"] == POISON]
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return got


@pytest.mark.parametrize("stack", ["kafka"], indirect=True)
async def test_malformed_events_go_to_the_dead_letter_topic(
        stack: Stack, client: httpx.AsyncClient) -> None:
    prefix = stack.env["CHATSTREAM_TOPIC_PREFIX"]
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
    await producer.start()
    try:
        for topic in READERS:
            await producer.send_and_wait(topic_name(topic, prefix), POISON.encode(),
                                         key=b"dev:poison")
    finally:
        await producer.stop()

    expected = {(topic_name(t, prefix), stage) for t, stages in READERS.items() for stage in stages}
    letters = await _dead_letters(prefix, expected)
    assert {(d["topic"], d["stage"]) for d in letters} >= expected, letters
    assert all(d["error_type"] == "PoisonEvent" for d in letters)

    cid = await new_conversation(client)
    answer = await ask(client, cid, "The pipeline still works after poison.")
    assert answer.last.event == "done"
