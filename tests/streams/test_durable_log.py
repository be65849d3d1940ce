"""The durable embedded log: what was acknowledged is on disk, offsets come back after a
restart, memory holds only the newest records, and retention drops the oldest."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

from kernel.settings import TopicRetention
from schemas.events import MessageReceived
from schemas.topics import ANALYTICS, REQUESTS
from streams.codec import decode
from streams.runtime.base import Emit, Record, StageSpec
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.runtime import EmbeddedRuntime
from streams.runtime.retention import Retention
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]


def _msg(key: str, n: int) -> MessageReceived:
    return MessageReceived(tenant_id="t", request_id=f"r{n}", message_id=f"m{n}",
                           conversation_id=key, user_id="u", text=str(n), model="local")




def _collector(seen: list[str], hang_on: str | None = None) -> StageSpec:
    async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
        if event.text == hang_on:
            await asyncio.Event().wait()  # in flight when the runtime stops
        seen.append(event.text)
        return
        yield

    return StageSpec("collector", (REQUESTS,), handler)


async def _everything(log: EmbeddedLog, topic: str) -> list[tuple[int, int, bytes]]:
    out = []
    for part in log.partitions(topic):
        offset = 0
        while batch := await log.read(topic, part.index, offset):
            out += [(r.partition, r.offset, r.value) for r in batch]
            offset = batch[-1].offset + 1
    return out


async def test_records_offsets_and_headers_come_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = EmbeddedLog(3, path=path)
    await log.open()
    for n in range(50):
        await log.append("t", f"k{n % 7}".encode(), f"v{n}".encode(),
                         (("traceparent", b"00-ab-cd-01"),))
    log.commit("g", "t", 1, 4)
    before = await _everything(log, "t")
    await log.close()

    again = EmbeddedLog(3, path=path)
    await again.open()
    try:
        assert await _everything(again, "t") == before
        assert sum(len(p) for p in again.partitions("t")) == 50
        assert again.committed("g", "t", 1) == 4
        first = (await again.read("t", 0, 0, 1))[0]
        assert first.headers == (("traceparent", b"00-ab-cd-01"),) and first.key is not None
        record = await again.append("t", b"k0", b"after")  # offsets continue, none reused
        assert record.offset == len(again.partitions("t")[record.partition]) - 1
        assert record.offset == max(o for p, o, _ in before if p == record.partition) + 1
    finally:
        await again.close()


def _append_until_killed(path: Path, count: int) -> list[tuple[str, ...]]:
    """A real process appends and prints each acknowledged record; SIGKILL after ``count``."""
    script = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from streams.runtime.embedded.log import EmbeddedLog
        async def main():
            log = EmbeddedLog(2, path=Path({str(path)!r}))
            await log.open()
            n = 0
            while True:
                records = [log.append_nowait("t", b"k%d" % (n + i), b"v%d" % (n + i))
                           for i in range(20)]
                for record, acked in records:
                    await acked
                    print(record.partition, record.offset, record.value.decode(), flush=True)
                n += 20
        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if len(lines) >= count:
            proc.kill()
            break
    proc.wait(10)
    lines += proc.stdout.read().splitlines(keepends=True)
    proc.stdout.close()
    # A line cut short by the kill was not printed whole: its record may not count.
    return [tuple(line.split()) for line in lines if line.endswith("\n")]


async def test_what_was_acknowledged_survives_kill_9(tmp_path: Path) -> None:
    """Every record a process saw acknowledged is in the file after it was killed with
    SIGKILL in the middle of appending."""
    path = tmp_path / "log.db"
    acked = await asyncio.to_thread(_append_until_killed, path, 500)
    log = EmbeddedLog(2, path=path)
    await log.open()
    try:
        stored = {(str(p), str(o), v.decode()) for p, o, v in await _everything(log, "t")}
        missing = [a for a in acked if a not in stored]
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
    finally:
        await log.close()


async def test_a_restarted_runtime_resumes_each_group_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    seen: list[str] = []
    rt = EmbeddedRuntime(partitions=2, path=path)
    await rt.start([_collector(seen, hang_on="3")])
    for n in range(6):
        await rt.publisher.publish(REQUESTS, "k", _msg("k", n))
    await until(lambda: seen == ["0", "1", "2"])
    await rt.stop()  # "3" in flight: not committed, so not lost

    again: list[str] = []
    rt2 = EmbeddedRuntime(partitions=2, path=path)
    await rt2.start([_collector(again)])
    try:
        await rt2.publisher.publish(REQUESTS, "k", _msg("k", 6))
        await until(lambda: len(again) == 4)
        await asyncio.sleep(0.05)
        assert again == ["3", "4", "5", "6"]
    finally:
        await rt2.stop()


async def test_memory_holds_only_the_newest_records_and_the_rest_is_read_back(
        tmp_path: Path) -> None:
    log = EmbeddedLog(1, path=tmp_path / "log.db", cache_bytes=64 * 1024)
    await log.open()
    try:
        log.partitions("other")  # the budget is shared by every partition
        for n in range(3000):
            await log.append("t", None, b"x" * 100 + str(n).encode())
        part = log.partitions("t")[0]
        assert part.cached_bytes <= 64 * 1024
        assert part.cache_start > 2000
        values = [v for _, _, v in await _everything(log, "t")]
        assert values == [b"x" * 100 + str(n).encode() for n in range(3000)]
    finally:
        await log.close()


async def test_memory_lets_go_of_records_older_than_cache_s(tmp_path: Path) -> None:
    """A quiet partition far below its byte budget still stops holding records in memory
    once they are on disk and older than ``cache_s``; they are read back from the file."""
    log = EmbeddedLog(1, path=tmp_path / "log.db", cache_s=0.2)
    await log.open()
    try:
        await log.append("quiet", None, b"old")
        await asyncio.sleep(0.3)
        await log.append("quiet", None, b"new")
        part = log.partitions("quiet")[0]
        assert part.cache_start == 1  # "old" is on disk only
        assert [v for _, _, v in await _everything(log, "quiet")] == [b"old", b"new"]
        # And what it let go of is freed, not kept alive behind the cache's head.
        for n in range(200):
            await log.append("quiet", None, b"later %d" % n)
        await asyncio.sleep(0.3)
        await log.append("quiet", None, b"last")
        gc.collect()
        held = [o for o in gc.get_objects()
                if isinstance(o, list) and o and isinstance(o[0], Record)
                and o[0].topic == "quiet"]
        assert sum(len(x) for x in held) < 64
    finally:
        await log.close()


async def test_tail_from_a_time_finds_records_that_are_only_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    rt = EmbeddedRuntime(partitions=2, path=path)
    await rt.start()
    for n in range(10):
        await rt.publisher.publish(REQUESTS, f"k{n}", _msg(f"k{n}", n))
    await rt.stop()
    rt2 = EmbeddedRuntime(partitions=2, path=path)
    await rt2.start()
    got: list[str] = []

    async def read() -> None:
        async for record in rt2.tail(REQUESTS, since_ms=0):
            got.append(decode(REQUESTS, record.value).text)

    task = asyncio.create_task(read())
    try:
        await until(lambda: len(got) == 10)
        assert sorted(got, key=int) == [str(n) for n in range(10)]
    finally:
        task.cancel()
        await rt2.stop()


async def test_retention_by_size_drops_the_oldest_and_readers_get_the_earliest(
        tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = EmbeddedLog(1, path=path, retention={"t": Retention(bytes=1000)})
    await log.open()
    for n in range(100):
        await log.append("t", None, b"%04d" % n + b"." * 96)  # 100 bytes each
    await log.enforce_retention()
    part = log.partitions("t")[0]
    assert part.start == 90 and part.size == 1000
    batch = await log.read("t", 0, 0)  # beyond retention: the earliest still there
    assert batch[0].offset == 90 and batch[0].value.startswith(b"0090")
    await log.close()

    again = EmbeddedLog(1, path=path)
    await again.open()
    try:
        assert again.partitions("t")[0].start == 90  # the rows are gone from the file
        assert len(await _everything(again, "t")) == 10
    finally:
        await again.close()


async def test_retention_by_time_in_memory_and_a_group_moves_to_the_earliest() -> None:
    rt = EmbeddedRuntime(partitions=1, retention={REQUESTS.name: TopicRetention(ms=1000)})
    for n in range(5):
        await rt.log.append(REQUESTS.name, b"k", _msg("k", n).model_dump_json().encode())
    part = rt.log.partitions(REQUESTS.name)[0]
    dropped = await rt.log.enforce_retention(now_ms=part.last_ts + 5000)
    assert dropped == 5 and part.start == 5 and list(part) == []
    seen: list[str] = []
    await rt.start([_collector(seen)])
    try:
        await rt.publisher.publish(REQUESTS, "k", _msg("k", 5))
        await until(lambda: seen == ["5"])
        group = "chatstream-collector"
        await until(lambda: rt.log.committed(group, REQUESTS.name, 0) == 6)
    finally:
        await rt.stop()


async def test_a_compacted_topic_keeps_the_newest_value_of_each_key(tmp_path: Path) -> None:
    log = EmbeddedLog(1, path=tmp_path / "log.db",
                    retention={ANALYTICS.name: Retention(compacted=True)}, cache_bytes=1)
    await log.open()
    try:
        for n in range(30):
            await log.append(ANALYTICS.name, b"k%d" % (n % 3), b"v%d" % n)
        await log.enforce_retention()
        values = sorted(v for _, _, v in await _everything(log, ANALYTICS.name))
        assert values == [b"v27", b"v28", b"v29"]
    finally:
        await log.close()


async def test_a_stage_state_comes_back_with_its_offsets(tmp_path: Path) -> None:
    from dataclasses import replace

    from streams.runtime.base import StageState

    def counting() -> StageSpec:
        state = StageState("counts")

        async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
            state.store[event.conversation_id] = (state.store.get(event.conversation_id)
                                                  or 0) + 1
            return
            yield
        return replace(_collector([]), handler=handler, state=state)

    path = tmp_path / "log.db"
    first = counting()
    rt = EmbeddedRuntime(partitions=2, path=path)
    await rt.start([first])
    for n in range(4):
        await rt.publisher.publish(REQUESTS, "k", _msg("k", n))
    assert first.state is not None
    await until(lambda: first.state is not None and first.state.store.get("k") == 4)
    await rt.stop()

    second = counting()
    rt2 = EmbeddedRuntime(partitions=2, path=path)
    await rt2.start([second])
    try:
        await rt2.publisher.publish(REQUESTS, "k", _msg("k", 4))
        await until(lambda: second.state is not None and second.state.store.get("k") == 5)
    finally:
        await rt2.stop()


async def test_a_second_process_cannot_open_a_log_in_use(tmp_path: Path) -> None:
    import pytest

    from kernel.errors import ConfigurationError

    first = EmbeddedLog(1, path=tmp_path / "log.db")
    await first.open()
    try:
        with pytest.raises(ConfigurationError, match="another chatstream process"):
            await EmbeddedLog(1, path=tmp_path / "log.db").open()
    finally:
        await first.close()
    again = EmbeddedLog(1, path=tmp_path / "log.db")  # free once the first one closed
    await again.open()
    await again.close()
