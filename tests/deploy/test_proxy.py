"""The round-robin proxy of deploy/local/cluster.py: alternates edges per request, passes
headers such as Last-Event-ID, streams bodies as they come, skips a stopped edge."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cluster() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster", ROOT / "deploy/local/cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _edge(name: str):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        last = next((h.split(":", 1)[1].strip() for h in head.split("\r\n")
                     if h.lower().startswith("last-event-id:")), "-")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        for i in range(3):
            data = f"id: {i}\nevent: token\ndata: {name} after {last}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.6)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()
    return handle


@pytest.fixture
async def proxy_url() -> AsyncIterator[tuple[str, list[asyncio.Server]]]:
    edges = [await asyncio.start_server(_edge(n), "127.0.0.1", 0) for n in ("a", "b")]
    ups = [("127.0.0.1", s.sockets[0].getsockname()[1]) for s in edges]
    proxy = _cluster().RoundRobinProxy(ups)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", edges
    server.close()
    for s in edges:
        s.close()


async def test_requests_alternate_and_stream_unbuffered(
        proxy_url: tuple[str, list[asyncio.Server]]) -> None:
    url, _ = proxy_url
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        served = []
        for _ in range(2):
            start = time.perf_counter()
            async with client.stream("GET", "/events",
                                     headers={"Last-Event-ID": "7"}) as r:
                served.append(r.headers["x-chatstream-edge"])
                lines = r.aiter_lines()
                first = await anext(lines)
                # The first event arrives before the edge has finished (1.8 s).
                assert time.perf_counter() - start < 1.2
                rest = [line async for line in lines]
            assert first == "id: 0"
            assert any(line.endswith("after 7") for line in rest)
        assert sorted(served) == ["0", "1"]


async def test_a_stopped_edge_is_skipped(proxy_url: tuple[str, list[asyncio.Server]]) -> None:
    url, edges = proxy_url
    edges[0].close()
    await edges[0].wait_closed()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for _ in range(3):
            r = await client.get("/events")
            assert r.status_code == 200
            assert r.headers["x-chatstream-edge"] == "1"
            assert "data: b after -" in r.text


async def test_an_answer_before_the_body_is_read_is_relayed() -> None:
    """An edge refuses an upload from its Content-Length (413) and closes without
    reading the body: the client gets the 413, not a dropped connection."""
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"error": {"code": "document_too_large"}}'
        writer.write(b"HTTP/1.1 413 Content Too Large\r\ncontent-type: application/json\r\n"
                     + f"content-length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    edge = await asyncio.start_server(refuse, "127.0.0.1", 0)
    proxy = _cluster().RoundRobinProxy([("127.0.0.1", edge.sockets[0].getsockname()[1])])
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            r = await client.post("/v1/documents", content=b"a" * (8 * 1024 * 1024))
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "document_too_large"
    finally:
        server.close()
        edge.close()

