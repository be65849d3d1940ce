"""#26.2 and #26.3: what one connection may take, in time and in bytes, and what many
connections from one address may take, with the probes answering throughout.

Attacks (anonymous, raw sockets): sockets holding partial headers or nothing at all were
kept > 90 s; 1,000 connections holding partial bodies and 150 idle sockets made every route
503 `busy` for 35 s+, /healthz included (uvicorn's connection limit answered the probes
too); one 64 MB header was read whole (6.2 s, /healthz stalled 3.3 s, +130 MB) and 20,000
headers were accepted."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.security.support import Edge, start_dev_edge


@pytest.fixture(scope="module")
def strict_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    edge = start_dev_edge(tmp_path_factory.mktemp("strict"),
                          CHATSTREAM_HEADER_TIMEOUT_S="1", CHATSTREAM_BODY_TIMEOUT_S="2")
    yield edge
    edge.stop()


@pytest.fixture(scope="module")
def capped_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    edge = start_dev_edge(tmp_path_factory.mktemp("conn-capped"),
                          CHATSTREAM_MAX_CONNECTIONS_PER_ADDRESS="40",
                          CHATSTREAM_MAX_CONNECTIONS="300")
    yield edge
    edge.stop()


async def _connect(edge: Edge, source: str = "127.0.0.1",
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection to the edge from the loopback address ``source`` (any 127/8
    address is this host: each stands for a client of its own)."""
    url = urlsplit(edge.url)
    return await asyncio.open_connection(url.hostname, url.port, local_addr=(source, 0))


async def _answer(reader: asyncio.StreamReader, timeout: float = 20,
                  ) -> tuple[int, dict[str, str], bytes]:
    """The edge's answer, then the end of the connection (0, {}, b"" for a close with no
    answer); fails if the connection is still open after ``timeout``."""
    raw = await asyncio.wait_for(reader.read(), timeout)  # until the edge closes
    if not raw:
        return 0, {}, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _code(body: bytes) -> str:
    code: str = json.loads(body)["error"]["code"]
    return code


async def test_a_socket_that_sends_nothing_is_closed(strict_edge: Edge) -> None:
    reader, writer = await _connect(strict_edge)
    try:
        assert await _answer(reader) == (0, {}, b"")
    finally:
        writer.close()


async def test_partial_headers_are_408_after_the_header_timeout(strict_edge: Edge) -> None:
    reader, writer = await _connect(strict_edge)
    try:
        # A byte at a time, as slowloris does: each byte does not restart the clock.
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"X-Slow: a"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.4)
        status, headers, body = await _answer(reader)
    finally:
        writer.close()
    assert status == 408 and headers["content-type"] == "application/json"
    assert _code(body) == "header_timeout"


async def test_a_partial_body_is_408_after_the_body_timeout(strict_edge: Edge) -> None:
    reader, writer = await _connect(strict_edge)
    try:
        writer.write(b"POST /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ti")
        await writer.drain()
        status, _, body = await _answer(reader)
    finally:
        writer.close()
    assert status == 408
    assert _code(body) == "body_timeout"
    async with httpx.AsyncClient(base_url=strict_edge.url, timeout=30) as c:
        assert (await c.get("/v1/conversations")).json()["data"] == []  # nothing created


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines
                                                    if line)}
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, body


async def _send_huge_header(edge: Edge, total: int) -> tuple[int, bytes, int]:
    """One header of ``total`` bytes, written as fast as the edge reads until it
    answers: the answer and how many bytes went out before it."""
    reader, writer = await _connect(edge)
    answered = asyncio.ensure_future(asyncio.wait_for(_head(reader), 60))
    sent = 0
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * 65536
        while sent < total and not answered.done():
            writer.write(chunk)
            sent += len(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0)  # a client that reads while it writes
        status, _, body = await answered
        return status, body, sent
    finally:
        answered.cancel()
        writer.close()


async def test_a_64mb_header_is_refused_at_the_limit(strict_edge: Edge) -> None:
    before = strict_edge.process.cpu_seconds()
    async with httpx.AsyncClient(base_url=strict_edge.url, timeout=5) as c:
        attack = asyncio.ensure_future(_send_huge_header(strict_edge, 64 * 1024 * 1024))
        probes = []
        while not attack.done():
            probes.append((await c.get("/healthz")).status_code)
            await asyncio.sleep(0.02)
        status, body, sent = await attack
    assert status == 431 and _code(body) == "headers_too_large"
    assert sent < 8 * 1024 * 1024  # refused after ~32 KB, not read whole (64 MB)
    assert set(probes) <= {200}
    assert strict_edge.process.cpu_seconds() - before < 1.0


@pytest.mark.parametrize("count", [101, 20_000])
async def test_too_many_headers_are_431(strict_edge: Edge, count: int) -> None:
    reader, writer = await _connect(strict_edge)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     + b"".join(b"X-H%d: 1\r\n" % i for i in range(count)) + b"\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        status, _, body = await _answer(reader)
    finally:
        writer.close()
    assert status == 431
    assert _code(body) in ("too_many_headers", "headers_too_large")


@contextlib.asynccontextmanager
async def _held(edge: Edge, source: str, n: int, request: bytes,
                ) -> AsyncIterator[list[asyncio.StreamReader]]:
    """``n`` connections from ``source``, each having sent ``request`` and holding on."""
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(n):
            reader, writer = await _connect(edge, source)
            writer.write(request)
            opened.append((reader, writer))
        await asyncio.gather(*(w.drain() for _, w in opened), return_exceptions=True)
        yield [r for r, _ in opened]
    finally:
        for _, writer in opened:
            writer.close()


_PARTIAL_BODY = (b"POST /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                 b"application/json\r\nContent-Length: 1000\r\n\r\n{")


async def _get(edge: Edge, path: str, source: str) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=edge.url, timeout=30, transport=transport) as c:
        return await c.get(path)


async def test_one_address_holding_partial_bodies_leaves_everyone_else_served(
        capped_edge: Edge) -> None:
    async with _held(capped_edge, "127.0.0.2", 1000, _PARTIAL_BODY) as bodies, \
            _held(capped_edge, "127.0.0.3", 150, b""):
        await asyncio.sleep(1)  # the edge has seen every request
        for probe in ("/healthz", "/readyz"):
            assert (await _get(capped_edge, probe, "127.0.0.2")).status_code == 200
        r = await _get(capped_edge, "/v1/conversations", "127.0.0.4")
        assert r.status_code == 200, r.text  # another client is served
        r = await _get(capped_edge, "/v1/conversations", "127.0.0.2")
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_connections"
        assert r.headers["retry-after"]
        # The connections past the address's 40 were refused and closed at once.
        refused = [await _answer(b, 5) for b in bodies[40:60]]
        assert {status for status, _, _ in refused} == {429}


async def test_past_the_connection_cap_only_probes_are_answered(capped_edge: Edge) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for i in range(10):  # 330 idle connections from 11 addresses, 30 each
            await stack.enter_async_context(_held(capped_edge, f"127.0.1.{i + 1}", 30, b""))
        await stack.enter_async_context(_held(capped_edge, "127.0.1.99", 30, b""))
        r = await _get(capped_edge, "/v1/conversations", "127.0.0.5")
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy"
        for probe in ("/healthz", "/readyz"):
            assert (await _get(capped_edge, probe, "127.0.0.5")).status_code == 200
    for _ in range(50):  # the idle ones gone, the edge serves again
        r = await _get(capped_edge, "/v1/conversations", "127.0.0.5")
        if r.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 200
