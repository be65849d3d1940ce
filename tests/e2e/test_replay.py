"""`chatstream replay dlq` puts dead letters back on their topics, each once."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from harness.servers import KAFKA
from schemas.events import DeadLettered, MessageReceived, conversation_key, new_id
from schemas.stages import topic_name
from schemas.topics import DLQ, REQUESTS
from tests.e2e.chat import new_conversation, wait_for_messages
from tests.support.stacks import Stack


def _replay(stack: Stack) -> str:
    done = subprocess.run(
        # Only this test's letter: other tests of the session dead-letter on purpose too.
        [sys.executable, "-m", "chatstream.cli", "replay", "dlq", "--stage", "replay-test"],
        env={**stack.env_for_cli(), "CHATSTREAM_LOG_LEVEL": "WARNING"},
        capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


@pytest.mark.parametrize("stack", ["kafka"], indirect=True)
async def test_dead_letter_replayed_once_is_answered(stack: Stack,
                                                     client: httpx.AsyncClient) -> None:
    cid = await new_conversation(client)
    prefix = stack.env["CHATSTREAM_TOPIC_PREFIX"]
    request = MessageReceived(tenant_id="dev", request_id=new_id(), message_id=new_id(),
                              conversation_id=cid, user_id="dev",
                              text="The boiler code is 7781.", model="local")
    letter = DeadLettered(
        tenant_id="dev", stage="replay-test", topic=topic_name(REQUESTS, prefix), partition=0,
        offset=0, key=conversation_key("dev", cid), original=request.model_dump_json(),
        error="store timed out", error_type="StoreUnavailable", attempts=4)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
    await producer.start()
    try:
        await producer.send_and_wait(topic_name(DLQ, prefix), letter.model_dump_json().encode())
    finally:
        await producer.stop()

    assert "1 dead letters replayed" in _replay(stack)
    stored = await wait_for_messages(client, cid, 2)
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert "7781" in stored[1]["text"]
    assert "0 dead letters replayed" in _replay(stack), "each dead letter replays once"
