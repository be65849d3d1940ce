"""The embedded log's own costs: an append (in memory, light, durable) and a retained record.

- append: ``--records`` appends of ``--size`` bytes from ``--writers`` concurrent writers
  (each awaiting its acknowledgement, as the edge and the stages do), for a log in memory,
  a durable log on a light topic (no fsync) and on a durable topic (fsync per group);
  CPU time of this process per append (from /proc, so both threads count), wall time per
  append, acknowledgement latency p50/p99 and the mean group size;
- memory: RSS growth per record retained by a log in memory, and per record of a durable
  log whose cache is 8 MiB (what stays is the cache, not the records).

    python -m bench.log_append [--records 20000] [--size 200] [--writers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path

from bench.common import machine, pct, table
from streams.runtime.embedded.log import EmbeddedLog


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def appends(log: EmbeddedLog, topic: str, records: int, size: int,
                  writers: int) -> tuple[float, float, float, float]:
    """CPU µs and wall µs per append, ack latency p50 and p99 in ms."""
    value = b"x" * size
    latencies: list[float] = []
    per_writer = records // writers

    async def writer(w: int) -> None:
        for i in range(per_writer):
            started = time.perf_counter()
            await log.append(topic, b"k%d" % (w * 7919 + i), value)
            latencies.append((time.perf_counter() - started) * 1000)

    cpu0, wall0 = _cpu(), time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    n = per_writer * writers
    return ((_cpu() - cpu0) * 1e6 / n, (time.perf_counter() - wall0) * 1e6 / n,
            pct(latencies, 0.5), pct(latencies, 0.99))


async def memory_per_record(log: EmbeddedLog, records: int, size: int) -> float:
    gc.collect()
    before = _rss_kb()
    for i in range(records):
        _, acked = log.append_nowait("m", b"key-%d" % i, b"%0*d" % (size, i))
        if i % 200 == 0:
            await acked  # a steady writer: the cache evicts what is on disk
    await log.append("m", None, b"")
    gc.collect()
    return (_rss_kb() - before) * 1024 / records


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--writers", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        memory = EmbeddedLog(6)
        await memory.open()
        rows.append(["in memory", *await appends(memory, "t", args.records, args.size,
                                                 args.writers)])
        durable = EmbeddedLog(6, path=Path(tmp) / "log.db", light=("light",))
        await durable.open()
        rows.append(["file, light topic (no fsync)",
                     *await appends(durable, "light", args.records, args.size, args.writers)])
        rows.append(["file, durable topic (fsync)",
                     *await appends(durable, "t", args.records, args.size, args.writers)])
        rows.append(["file, durable, 1 writer",
                     *await appends(durable, "t", args.records // 8, args.size, 1)])
        await durable.close()
        print(f"machine: {machine()}; {args.size}-byte values")
        print(table(["log", "CPU µs/append", "wall µs/append", "ack p50 ms", "ack p99 ms"],
                    rows))
        n = args.records * 5
        kept = EmbeddedLog(6)
        await kept.open()
        per_memory = await memory_per_record(kept, n, args.size)
        del kept
        cached = EmbeddedLog(6, path=Path(tmp) / "mem.db", cache_bytes=8 << 20)
        await cached.open()
        first = await memory_per_record(cached, n, args.size)
        more = await memory_per_record(cached, 4 * n, args.size)
        await cached.close()
    print(table(["log", "records appended", "RSS growth MB", "RSS bytes per record"],
                [["in memory (all retained in RAM)", n, per_memory * n / 2**20, per_memory],
                 ["file, 8 MiB cache: first", n, first * n / 2**20, first],
                 ["file, 8 MiB cache: then", 4 * n, more * 4 * n / 2**20, more]]))


if __name__ == "__main__":
    asyncio.run(main())
