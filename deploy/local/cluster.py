#!/usr/bin/env python3
"""A multi-process chatstream on the local Kafka, Cassandra and Weaviate: N edges behind a
small round-robin HTTP proxy, and M workers per role (schemas/stages.py: retrieval,
inference, ingestion, pipeline), each its own process.

    python deploy/local/cluster.py [--edges 2] [--workers 2] [--port 8800]   (make cluster)

Prints ``chatstream cluster listening on http://127.0.0.1:PORT/`` once every process is
ready; SIGINT/SIGTERM stops them all. Settings come from the environment as for
``chatstream`` (CHATSTREAM_BROKER, _STORE, _VECTORS...), defaulting to the servers of
``make services``. Each request through the proxy goes to the next edge (connections are
not kept alive, so a client's requests alternate between edges): a stream resumed with
``Last-Event-ID`` is served by another edge than the one it started on. The proxy relays
response bytes as they arrive (SSE is never buffered) and names the edge in the
``X-Chatstream-Edge`` response header; an edge that refuses connections is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import signal
import sys
import time
from pathlib import Path

# Run with the project's environment (make cluster): the roles come from the registry.
from schemas.stages import ROLES

# Every stage once: the registry's roles but the one that runs them all.
_DEPLOYED = ",".join(r.name for r in ROLES if r.name != "all")

_URL = re.compile(r"listening on (http://\S+)")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "upgrade", "expect"}
_EXPECT_ABOVE = 64 * 1024  # request bodies larger than this are sent after a 100 Continue
DEFAULTS = {
    "CHATSTREAM_BROKER": "kafka://127.0.0.1:9092",
    "CHATSTREAM_STORE": "cassandra://127.0.0.1:9042/chatstream_cluster",
    "CHATSTREAM_VECTORS": "weaviate://127.0.0.1:8080",
    # The edges sit behind this launcher's proxy, which says who it relays for.
    "CHATSTREAM_TRUSTED_PROXIES": '["127.0.0.1"]',
}


# --------------------------------------------------------------------------- proxy


class RoundRobinProxy:
    """HTTP/1.1, one request per client connection, each to the next upstream."""

    def __init__(self, upstreams: list[tuple[str, int]]) -> None:
        self.upstreams = upstreams
        self._turn = itertools.count()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = [h for h in lines if h]
            fields = {h.partition(":")[0].strip().lower(): h.partition(":")[2].strip()
                      for h in headers}
            if "chunked" in fields.get("transfer-encoding", "").lower():
                writer.write(_status(411, "chunked request bodies are not proxied"))
                return
            body = await reader.readexactly(int(fields.get("content-length", "0") or 0))
            kept = [h for h in headers if h.partition(":")[0].strip().lower() not in _HOP_BY_HOP]
            peer = writer.get_extra_info("peername")
            kept += ["Connection: close", f"X-Forwarded-For: {peer[0] if peer else ''}"]
            opened = await self._connect()
            if opened is None:
                writer.write(_status(502, "no edge is reachable"))
                return
            index, up_reader, upstream = opened
            # Large bodies wait for 100 Continue (RFC 9110): an edge that refuses one from
            # its Content-Length (413) answers without reading it, and a body sent anyway
            # would make it reset the connection and lose that answer.
            expect = len(body) > _EXPECT_ABOVE
            upstream.write(("\r\n".join([request_line, *kept])
                            + ("\r\nExpect: 100-continue" if expect else "") + "\r\n\r\n")
                           .encode("latin-1") + (b"" if expect else body))
            await upstream.drain()
            status, *resp_headers = await _response_head(up_reader)
            if expect and " 100 " in f"{status} ":
                upstream.write(body)
                await upstream.drain()
                status, *resp_headers = await _response_head(up_reader)
            resp_kept = [h for h in resp_headers
                         if h and h.partition(":")[0].strip().lower() not in _HOP_BY_HOP]
            resp_kept += ["Connection: close", f"X-Chatstream-Edge: {index}"]
            writer.write(("\r\n".join([status, *resp_kept]) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            # The body as it comes (chunked framing passes through untouched).
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # either side went away: close both
        finally:
            for w in (upstream, writer):
                if w is not None:
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()

    async def _connect(self) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.upstreams)):
            index = next(self._turn) % len(self.upstreams)
            host, port = self.upstreams[index]
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                continue  # a stopped edge: the next one serves
            return index, reader, writer
        return None


async def _response_head(reader: asyncio.StreamReader) -> list[str]:
    return (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")


def _status(code: int, message: str) -> bytes:
    body = f'{{"error": {{"code": "proxy", "message": "{message}"}}}}'.encode()
    return (f"HTTP/1.1 {code} Proxy\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- processes


class Child:
    """One ``chatstream`` process, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path,
                 ready: str) -> None:
        self.name, self.args, self.env, self.ready_text = name, args, env, ready
        self.log = logs / f"{name}.log"
        self.url: str | None = None
        self.ready = asyncio.Event()
        self.seen = False
        self.stopping = False
        self.restarts = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatstream.cli", *self.args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        with self.log.open("ab") as out:
            async for raw in self.proc.stdout:
                out.write(raw)
                out.flush()
                line = raw.decode(errors="replace")
                if m := _URL.search(line):
                    self.url = m.group(1).rstrip("/")
                if self.ready_text in line:
                    self.seen = True
                    self.ready.set()
        self.ready.set()  # exited: the waiter sees `seen` is still false

    async def wait_ready(self, within_s: float) -> None:
        try:
            async with asyncio.timeout(within_s):
                while not self.seen:
                    await self.ready.wait()
                    if not self.seen:  # it exited: the supervisor starts it again
                        await asyncio.sleep(0.5)
        except TimeoutError:
            raise RuntimeError(f"{self.name} not ready in {within_s:.0f} s; see "
                               f"{self.log}") from None

    async def supervise(self) -> None:
        """Restart the process when it exits on its own (a worker that could not reach
        Cassandra at start, a crash), as Kubernetes would; edges keep their port."""
        while not self.stopping:
            assert self.proc is not None
            code = await self.proc.wait()
            await self._pump
            if self.stopping:
                return
            self.restarts += 1
            delay = min(30.0, 2.0 ** min(self.restarts, 5))
            print(f"chatstream cluster: {self.name} exited ({code}); restart "
                  f"{self.restarts} in {delay:.0f} s", flush=True)
            await asyncio.sleep(delay)
            if self.stopping:
                return
            if self.url is not None:  # an edge comes back on the port the proxy knows
                port = self.url.rpartition(":")[2]
                self.args = [*self.args[:-1], port] if self.args[-2:-1] == ["--port"] \
                    else self.args
            self.ready.clear()
            self.seen = False
            await self.start()

    async def stop(self, grace: float = 20.0) -> None:
        self.stopping = True
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def run(edges: int, workers: int, port: int, roles: list[str], logs: Path,
              ready_s: float) -> None:
    base = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for key, value in DEFAULTS.items():
        base.setdefault(key, value)
    data = Path(base.get("CHATSTREAM_DATA_DIR", ".chatstream"))

    def child(name: str, args: list[str], ready: str) -> Child:
        # Many workers on one machine: each takes any free port for its metrics.
        env = {**base, "CHATSTREAM_DATA_DIR": str(data / name),
               "CHATSTREAM_WORKER_PORT": base.get("CHATSTREAM_WORKER_PORT", "0")}
        return Child(name, args, env, logs, ready)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    pool = [child(f"{r}-{i}", ["worker", r], "workers running")
            for i in range(workers) for r in roles]
    front = [child(f"edge-{i}", ["edge", "--port", "0"], "listening on")
             for i in range(edges)]
    server: asyncio.Server | None = None
    supervisors: list[asyncio.Task[None]] = []
    try:
        # One process first: it creates the topics, the keyspace and its tables, so the
        # others do not race on schema changes; then the rest at once.
        first, *rest = [*pool, *front]
        await first.start()
        supervisors.append(asyncio.create_task(first.supervise()))
        await first.wait_ready(ready_s)
        for c in rest:
            await c.start()
            supervisors.append(asyncio.create_task(c.supervise()))
        await asyncio.gather(*(c.wait_ready(ready_s) for c in rest))
        upstreams = []
        for e in front:
            assert e.url is not None
            host, _, p = e.url.removeprefix("http://").rpartition(":")
            upstreams.append((host, int(p)))
        proxy = RoundRobinProxy(upstreams)
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", port)
        bound = server.sockets[0].getsockname()[1]
        print(f"chatstream cluster: {edges} edges ({', '.join(e.url or '' for e in front)}), "
              f"{workers} worker(s) per role ({len(pool)} processes), logs in {logs}, "
              f"started in {time.monotonic() - started:.1f} s", flush=True)
        print(f"chatstream cluster listening on http://127.0.0.1:{bound}/", flush=True)
        await stop.wait()
    finally:
        print("chatstream cluster: stopping", flush=True)
        if server is not None:
            server.close()
        await asyncio.gather(*(c.stop() for c in [*front, *pool]))
        for task in supervisors:
            task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="processes per role")
    parser.add_argument("--port", type=int, default=8800, help="proxy port, 0 for any")
    parser.add_argument("--roles", default=_DEPLOYED,
                        help="roles or stages, comma-separated; each one process (a role "
                        "of several stages: stages joined by '.', e.g. scoring.persistence)")
    parser.add_argument("--logs", type=Path, default=Path(".chatstream/cluster-logs"))
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds each process has to become ready")
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.edges, args.workers, args.port, args.roles.split(","), args.logs,
                    args.timeout))


if __name__ == "__main__":
    main()
