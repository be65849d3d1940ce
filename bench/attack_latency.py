"""/healthz latency while the edge is attacked (#26.1, #26.2): the probe an orchestrator
relies on must keep answering quickly (target: p99 ≤ 50 ms).

Each phase runs on a fresh embedded ``chatstream up`` (defaults, AUTH=dev) so one
attack's aftermath cannot colour the next. A prober GETs /healthz every 20 ms on one
keep-alive connection from 127.0.0.1; a probe without an answer in 5 s counts as 5 s.

- ``idle``: nothing else.
- ``deep-json``: ``--attackers`` clients (127.0.0.2) sending, back to back, the hostile
  body of #26.1 (65 ``[`` then an unterminated string of ``\\"``), 1 MiB each by
  default: one client, then four (a flood as fast as the edge takes them).
- ``slow-bodies``: 1,000 connections from 10 addresses (127.0.0.10-19, within the
  per-address cap) each sending its headers and part of a body, then a byte every 2 s;
  and 150 idle sockets.

    python -m bench.attack_latency [--seconds 20] [--deep-bytes 1048576]
        [--phases idle,deep-1,deep-4,slow-bodies]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.common import START_S, pct, table
from harness.process import ChatstreamProcess

PROBE_TIMEOUT_S = 5.0


async def _probe(url: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=PROBE_TIMEOUT_S) as c:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                r = await c.get("/healthz")
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started if ok else PROBE_TIMEOUT_S)
            await asyncio.sleep(0.02)
    return latencies


async def _deep_json(url: str, stop: asyncio.Event, size: int) -> int:
    body = b"[" * 65 + b'"' + b'\\"' * ((size - 66) // 2)
    sent = 0
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=url, timeout=3600, transport=transport) as c:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await c.post("/v1/chat/completions", content=body,
                             headers={"Content-Type": "application/json"})
            sent += 1
    return sent


async def _slow_bodies(url: str, stop: asyncio.Event) -> int:
    parts = urlsplit(url)
    writers: list[asyncio.StreamWriter] = []
    head = (f"POST /v1/conversations HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
            "application/json\r\nContent-Length: 100000\r\n\r\n{").encode()
    try:
        for address in range(10, 20):
            for _ in range(100):
                _, writer = await asyncio.open_connection(
                    parts.hostname, parts.port, local_addr=(f"127.0.0.{address}", 0))
                writer.write(head)
                writers.append(writer)
        for _ in range(150):
            _, writer = await asyncio.open_connection(parts.hostname, parts.port,
                                                      local_addr=("127.0.0.20", 0))
            writers.append(writer)
        while not stop.is_set():
            for writer in writers[:1000]:
                if not writer.is_closing():
                    writer.write(b" ")
            await asyncio.sleep(2)
        return len(writers)
    finally:
        for writer in writers:
            writer.close()


Attack = Callable[[str, asyncio.Event], Awaitable[int]]


async def _phase(name: str, attack: Attack | None, seconds: float) -> list[object]:
    with tempfile.TemporaryDirectory(prefix="attack-") as tmp:
        env = {"CHATSTREAM_DATA_DIR": str(Path(tmp) / "data"), "CHATSTREAM_WORKER_PORT": "0",
               "CHATSTREAM_LAG_INTERVAL_S": "0", "CHATSTREAM_DEFAULT_MODEL": "extractive"}
        up = ChatstreamProcess(["up", "--port", "0"], env, Path(tmp) / "up.log").start(START_S)
        try:
            assert up.url
            stop = asyncio.Event()
            cpu = up.cpu_seconds()
            prober = asyncio.ensure_future(_probe(up.url, stop))
            attacker = asyncio.ensure_future(attack(up.url, stop)) if attack else None
            await asyncio.sleep(seconds)
            stop.set()
            latencies = await prober
            count = 0
            if attacker is not None:
                try:
                    count = await asyncio.wait_for(attacker, 10)
                except TimeoutError:
                    count = -1  # still stuck in a request the edge never answered
            spent = up.cpu_seconds() - cpu
        finally:
            up.kill()
    ms = [x * 1000 for x in latencies]
    failed = sum(1 for x in latencies if x >= PROBE_TIMEOUT_S)
    return [name, len(ms), pct(ms, 0.5), pct(ms, 0.99), max(ms), failed, count, spent]


async def run(seconds: float, deep_bytes: int, phases: list[str]) -> None:
    def deep(attackers: int) -> Attack:
        async def attack(url: str, stop: asyncio.Event) -> int:
            return sum(await asyncio.gather(*(_deep_json(url, stop, deep_bytes)
                                              for _ in range(attackers))))
        return attack

    known: dict[str, tuple[str, Attack | None]] = {
        "idle": ("idle", None),
        "deep-1": (f"deep-json, 1 client ({deep_bytes} B)", deep(1)),
        "deep-4": (f"deep-json, 4 clients ({deep_bytes} B)", deep(4)),
        "slow-bodies": ("slow-bodies (1,000 + 150 idle)", _slow_bodies),
    }
    rows = [await _phase(*known[name], seconds) for name in phases]
    print(table(["phase", "probes", "p50 ms", "p99 ms", "max ms", "no answer in 5 s",
                 "attack requests / conns", "edge CPU s"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--deep-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--phases", default="idle,deep-1,deep-4,slow-bodies")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.deep_bytes, args.phases.split(",")))


if __name__ == "__main__":
    main()
