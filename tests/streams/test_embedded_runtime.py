"""The embedded log keeps Kafka's semantics: per-key order, groups, commits, dead letters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from schemas.events import DeadLettered, MessageReceived
from schemas.topics import DLQ, REQUESTS
from streams.codec import decode
from streams.runtime.base import Emit, StageSpec
from streams.runtime.embedded.runtime import EmbeddedLog, EmbeddedRuntime
from streams.runtime.runner import StageRetry, StageRunner
from tests.support.wait import until


def _msg(key: str, n: int) -> MessageReceived:
    return MessageReceived(tenant_id="t", request_id=f"r{n}", message_id=f"m{n}",
                           conversation_id=key, user_id="u", text=str(n), model="local")




def _collector(seen: list[MessageReceived], fail_on: str | None = None) -> StageSpec:
    async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
        if event.text == fail_on:
            raise ValueError("cannot handle this one")
        seen.append(event)
        return
        yield

    return StageSpec("collector", (REQUESTS,), handler)


async def test_events_of_one_key_arrive_in_order() -> None:
    rt = EmbeddedRuntime(partitions=4)
    seen: list[MessageReceived] = []
    await rt.start([_collector(seen)])
    try:
        for n in range(50):
            await rt.publisher.publish(REQUESTS, f"k{n % 3}", _msg(f"k{n % 3}", n))
        await until(lambda: len(seen) == 50)
        for key in ("k0", "k1", "k2"):
            order = [int(e.text) for e in seen if e.conversation_id == key]
            assert order == sorted(order)
    finally:
        await rt.stop()


async def test_a_restarted_group_resumes_from_its_committed_offset() -> None:
    log = EmbeddedLog(2)
    first: list[MessageReceived] = []
    rt = EmbeddedRuntime(log_=log)
    await rt.start([_collector(first)])
    for n in range(5):
        await rt.publisher.publish(REQUESTS, "k", _msg("k", n))
    await until(lambda: len(first) == 5)
    await rt.stop()

    again: list[MessageReceived] = []
    rt2 = EmbeddedRuntime(log_=log)
    await rt2.start([_collector(again)])
    try:
        await rt2.publisher.publish(REQUESTS, "k", _msg("k", 5))
        await until(lambda: len(again) == 1)
        await asyncio.sleep(0.05)
        assert [e.text for e in again] == ["5"], "committed events must not be redelivered"
    finally:
        await rt2.stop()


async def test_a_failing_event_is_dead_lettered_and_the_stage_moves_on() -> None:
    rt = EmbeddedRuntime(partitions=1, retry=StageRetry(1, 0.001, 0.01))
    seen: list[MessageReceived] = []
    await rt.start([_collector(seen, fail_on="1")])
    try:
        for n in range(3):
            await rt.publisher.publish(REQUESTS, "k", _msg("k", n))
        await rt.log.append(REQUESTS.name, b"k", b'{"not": "an event"}')
        await rt.publisher.publish(REQUESTS, "k", _msg("k", 3))
        await until(lambda: len(seen) == 3)
        assert [e.text for e in seen] == ["0", "2", "3"]
        await until(lambda: len(rt.log.partitions(DLQ.name)[0]) == 2)
        letters = [decode(DLQ, r.value) for r in rt.log.partitions(DLQ.name)[0]]
        assert all(isinstance(d, DeadLettered) for d in letters)
        assert letters[0].stage == "collector" and letters[0].error_type == "ValueError"
        assert letters[0].attempts == 2 and '"text":"1"' in letters[0].original
        assert letters[1].error_type == "PoisonEvent"
    finally:
        await rt.stop()


async def test_tail_reads_from_a_point_in_time_then_live() -> None:
    rt = EmbeddedRuntime(partitions=2)
    await rt.start()
    await rt.publisher.publish(REQUESTS, "a", _msg("a", 0))
    await asyncio.sleep(0.01)
    point = int(time.time() * 1000)  # after "0" was written, before "1" and "2"
    await asyncio.sleep(0.01)
    await rt.publisher.publish(REQUESTS, "a", _msg("a", 1))
    got: list[str] = []

    async def read() -> None:
        async for record in rt.tail(REQUESTS, since_ms=point):
            got.append(decode(REQUESTS, record.value).text)

    task = asyncio.create_task(read())
    try:
        await rt.publisher.publish(REQUESTS, "b", _msg("b", 2))
        # "0" is older than the point: not read; "1" from the log, "2" live.
        await until(lambda: sorted(got) == ["1", "2"])
    finally:
        task.cancel()
        await rt.stop()


async def test_every_worker_of_a_stage_sees_every_broadcast_event() -> None:
    from schemas.events import CancelRequested
    from schemas.topics import CONTROL
    from streams.runtime.base import Broadcast

    log = EmbeddedLog(3)
    early = CancelRequested(tenant_id="t", request_id="r0", conversation_id="c0", user_id="u")
    await EmbeddedRuntime(log_=log).publisher.publish(CONTROL, "t:c0", early)
    seen: list[list[str]] = [[], []]

    def worker(n: int) -> StageSpec:
        async def on_control(event: CancelRequested) -> None:
            seen[n].append(event.request_id)
        return replace(_collector([]), broadcasts=(Broadcast(CONTROL, on_control,
                                                             lookback_s=60),))

    runtimes = [EmbeddedRuntime(log_=log), EmbeddedRuntime(log_=log)]
    for n, rt in enumerate(runtimes):
        await rt.start([worker(n)])
    try:
        for i in range(1, 6):  # keys spread over every partition
            await runtimes[0].publisher.publish(CONTROL, f"t:c{i}", early.model_copy(
                update={"request_id": f"r{i}", "conversation_id": f"c{i}"}))
        await until(lambda: all(len(s) == 6 for s in seen))
        assert sorted(seen[0]) == sorted(seen[1]) == [f"r{i}" for i in range(6)]
    finally:
        for rt in runtimes:
            await rt.stop()


async def test_a_dead_letter_waits_for_the_log_instead_of_being_dropped() -> None:
    """The log refuses the dead letter twice (an outage): the runner keeps the record
    until the letter is written, then moves on to the next event."""
    from kernel.errors import LogUnavailable

    rt = EmbeddedRuntime(partitions=1)
    await rt.start()
    refusals = 2

    class Flaky:
        async def send(self, topic: Any, key: Any, event: Any, headers: Any = (),
                       partition: Any = None) -> Any:
            return await rt.publisher.send(topic, key, event, headers)

        async def publish(self, topic: Any, key: Any, event: Any, headers: Any = (),
                          partition: Any = None) -> None:
            nonlocal refusals
            if topic is DLQ and refusals:
                refusals -= 1
                raise LogUnavailable("broker restarting")
            await rt.publisher.publish(topic, key, event, headers)

    seen: list[MessageReceived] = []
    runner = StageRunner(_collector(seen, fail_on="1"), Flaky(), StageRetry(0, 0.001, 0.01))
    try:
        await rt.publisher.publish(REQUESTS, "k", _msg("k", 1))
        await rt.publisher.publish(REQUESTS, "k", _msg("k", 2))
        for record in rt.log.partitions(REQUESTS.name)[0]:
            await runner.process(record)
        assert refusals == 0
        letters = [decode(DLQ, r.value) for r in rt.log.partitions(DLQ.name)[0]]
        assert [(d.error_type, d.attempts) for d in letters] == [("ValueError", 1)]
        assert [e.text for e in seen] == ["2"]
    finally:
        await rt.stop()
