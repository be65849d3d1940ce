"""Faust's consumer (with chatstream's guard installed) never commits an offset past a
message an agent is still handling, so a worker that dies mid-message loses nothing."""

from __future__ import annotations

from collections.abc import Iterator

import faust
import pytest
from faust.types import TP, Message

from streams.runtime.kafka.clients import install_patches

TOPIC = TP("chat.requests.v1", 0)


@pytest.fixture
def consumer() -> Iterator[faust.types.transports.ConsumerT]:
    """An unstarted consumer: the bookkeeping under test needs no broker. The guard is
    installed as the Kafka runtime installs it when it starts."""
    install_patches()
    app = faust.App("offsets-test", broker="kafka://127.0.0.1:9")
    app.topics._acking_topics.add(TOPIC.topic)  # what subscribing an agent does
    consumer = app.consumer
    assert consumer._new_offset(TOPIC) is None  # nothing acknowledged yet
    yield consumer
    consumer._thread.thread_loop.close()  # created for the consumer's thread, never run


def _message(offset: int) -> Message:
    return Message(TOPIC.topic, TOPIC.partition, offset, 0.0, 0, None, b"k", b"v", None)


async def test_a_later_message_finishing_first_does_not_commit_past_an_earlier_one(
        consumer: faust.types.transports.ConsumerT) -> None:
    consumer._committed_offset[TOPIC] = 100  # the next offset to read
    first, second, third = (_message(o) for o in (100, 101, 102))
    for m in (first, second, third):
        consumer.track_message(m)
    consumer.ack(second)
    assert consumer._new_offset(TOPIC) is None  # 100 is still being handled
    consumer.ack(first)
    assert consumer._new_offset(TOPIC) == 102
    consumer._committed_offset[TOPIC] = 102
    consumer.ack(third)
    assert consumer._new_offset(TOPIC) == 103


async def test_a_new_group_without_a_committed_offset_waits_for_the_message_in_flight(
        consumer: faust.types.transports.ConsumerT) -> None:
    first, second = _message(0), _message(1)
    consumer.track_message(first)
    consumer.track_message(second)
    consumer.ack(second)
    assert consumer._new_offset(TOPIC) is None
    consumer.ack(first)
    assert consumer._new_offset(TOPIC) == 2


async def test_an_offset_that_never_arrives_does_not_hold_commits_back(
        consumer: faust.types.transports.ConsumerT) -> None:
    """Offset 100 is gone (retention, a transaction marker): nothing waits for it."""
    consumer._committed_offset[TOPIC] = 100
    later = [_message(o) for o in (101, 102)]
    for m in later:
        consumer.track_message(m)
        consumer.ack(m)
    assert consumer._new_offset(TOPIC) == 103
