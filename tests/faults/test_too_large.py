"""Events too large for Kafka (its 1 MB message size): dead-lettered, never retried
forever (which wedged the stage's partition), and contexts kept small enough to fit:
history capped and carried once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from bench.crash import stack_env
from harness.cleanup import drop_keyspace, drop_topics
from harness.process import ChatstreamProcess
from harness.servers import KAFKA, require
from schemas.events import ContextBuilt, MessageReceived, Passage, conversation_key
from schemas.topics import CONTEXTS, DLQ, REQUESTS
from streams.runtime.base import Emit, StageSpec
from streams.runtime.kafka.runtime import KafkaRuntime
from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.support.events import message_received as _request


async def test_an_event_too_large_for_kafka_is_dead_lettered_and_the_stage_goes_on(
        tmp_path: Path) -> None:
    """A stage emits a 2 MB event: before, MessageSizeTooLargeError was taken for an
    outage and retried forever, so nothing after it on the partition was handled."""
    require(KAFKA, "Kafka")
    prefix = f"big-{uuid.uuid4().hex[:8]}."

    async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
        size = 2_000_000 if event.text == "big" else 10
        yield Emit(CONTEXTS, conversation_key("t1", "c1"), ContextBuilt(
            tenant_id="t1", request=event,
            passages=(Passage(document_id="d", title="t", chunk=0, text="x" * size),)))

    runtime = KafkaRuntime(KAFKA, topic_prefix=prefix, partitions=1, data_dir=tmp_path)
    await runtime.start([StageSpec("oversize", (REQUESTS,), handler)])
    consumer = AIOKafkaConsumer(prefix + CONTEXTS.name, prefix + DLQ.name,
                                bootstrap_servers=KAFKA, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        big, small = _request("big"), _request("small")
        for event in (big, small):  # one partition: the small one waits behind the big
            await runtime.publisher.publish(REQUESTS, conversation_key("t1", "c1"), event)
        letters: list[dict[str, str]] = []
        contexts: list[dict[str, dict[str, str]]] = []
        async with asyncio.timeout(120):
            while not (letters and contexts):
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    values = [json.loads(r.value) for r in records]
                    (letters if tp.topic.endswith(DLQ.name) else contexts).extend(values)
        [letter] = letters
        assert letter["stage"] == "oversize" and letter["error_type"] == "EventTooLarge"
        assert "too large" in letter["error"] and big.request_id in letter["original"]
        assert [c["request"]["request_id"] for c in contexts] == [small.request_id]
    finally:
        await consumer.stop()
        await runtime.stop()
        drop_topics(prefix)


@pytest.mark.timeout(900)
async def test_a_long_conversation_is_answered_with_its_history_capped(
        tmp_path: Path) -> None:
    """Messages of 16,000 four-byte characters (64 KB each, within every limit), in a
    deployment that keeps 40 turns of history: from the 17th on, the history alone
    passes Kafka's 1 MB, and the context used to be refused forever, wedging retrieval.
    History is capped at HISTORY_MAX_BYTES (the newest turns kept): all are answered."""
    # Kafka and Cassandra; the vector index embedded (no documents here).
    env = {**stack_env("kafka", tmp_path), "CHATSTREAM_LOCAL_MODEL_DELAY_MS": "0",
           "CHATSTREAM_HISTORY_TURNS": "40"}
    up = ChatstreamProcess(["up", "--port", "0"], env, tmp_path / "up.log").start(180)
    try:
        assert up.url is not None
        async with httpx.AsyncClient(base_url=up.url, timeout=120) as client:
            cid = await new_conversation(client)
            for n in range(18):
                answer = await ask(client, cid, f"Note {n}: " + "\U0001f98a" * 15_990)
                assert answer.last.event == "done", (n, answer.last, up.tail())
            other = await new_conversation(client)
            answer = await ask(client, other, "Is anyone still answering?")
            assert answer.last.event == "done", up.tail()
            stored = await wait_for_messages(client, cid, 36, timeout=60)
            assert [m["role"] for m in stored] == ["user", "assistant"] * 18
    finally:
        up.stop()
        drop_topics(env["CHATSTREAM_TOPIC_PREFIX"])
        drop_keyspace(env["CHATSTREAM_STORE"])
