"""#17.2 body limits: counted on the bytes received, before authentication or parsing.

Attacks: a 30 MB chunked POST (no Content-Length) read whole; a lying Content-Length;
many file parts in one upload; JSON nested deeply enough to blow the parser's stack."""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlsplit

import httpx

from tests.security.support import Edge

MB = 1024 * 1024


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines
                                                    if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def _send_chunked(url: str, path: str, total: int, content_type: str,
                        prefix: bytes = b"") -> tuple[int, dict[str, str], bytes, int]:
    """POST ``total`` bytes chunked over a raw socket, a little at a time, stopping when
    the edge answers: the status, headers and body of the answer, and how many bytes
    went out before it. (Paced so the edge has read all we sent when it answers: its
    close is then clean and the answer is readable.)"""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write((f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
                  f"{content_type}\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
    chunk = b"a" * 65536
    sent = 0
    if prefix:
        writer.write(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n")
    answered = asyncio.ensure_future(_response(reader))
    try:
        while sent < total and not answered.done():
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.002)
        if not answered.done():
            writer.write(b"0\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        status, headers, body = await asyncio.wait_for(answered, 60)
        return status, headers, body, sent
    finally:
        answered.cancel()
        writer.close()


async def test_a_30mb_chunked_json_body_is_refused_early(dev_edge: Edge) -> None:
    status, headers, body, sent = await _send_chunked(
        dev_edge.url, "/v1/chat/completions", 30 * MB, "application/json")
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert sent < 10 * MB  # refused at the limit (1 MiB), not after reading 30 MB


async def test_an_unauthenticated_huge_body_is_refused_unread(jwt_edge: Edge) -> None:
    """No credential, no body read: 401 from the headers (test_credential_first.py), so
    no parsing or counting for anonymous callers either."""
    status, _, body, sent = await _send_chunked(
        jwt_edge.url, "/v1/conversations", 30 * MB, "application/json")
    assert status == 401, body
    assert sent < 10 * MB


async def test_a_chunked_upload_over_the_document_limit_is_413(dev_edge: Edge) -> None:
    status, _, body, sent = await _send_chunked(
        dev_edge.url, "/v1/documents", 30 * MB, "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n")
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == "document_too_large"
    assert sent < 15 * MB


async def test_one_file_part_per_upload(dev_edge: Edge) -> None:
    files = [("file", ("a.txt", b"first", "text/plain")),
             ("file", ("b.txt", b"second", "text/plain"))]
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        before = (await c.get("/v1/documents")).json()["data"]
        r = await c.post("/v1/documents", files=files)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "one_file_per_upload"
        assert (await c.get("/v1/documents")).json()["data"] == before


async def test_deeply_nested_json_is_400_never_500(dev_edge: Edge) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    async with httpx.AsyncClient(base_url=dev_edge.url, timeout=30) as c:
        cid = (await c.post("/v1/conversations", json={})).json()["id"]
        for path, body in [
            ("/v1/chat/completions", deep),
            ("/v1/chat/completions", '{"model": "extractive", "messages": [{"role": "user", '
             '"content": "hi"}], "metadata": ' + deep + "}"),
            (f"/v1/conversations/{cid}/messages", '{"text": "hi", "options": {"a": '
             + "[" * 5000 + "]" * 5000 + "}}"),
            ("/v1/conversations", '{"title": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}"),
        ]:
            r = await c.post(path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (path, r.status_code, r.text[:200])
            assert r.json()["error"]["code"] == "too_deep"
        # Brackets inside strings are text, not nesting.
        r = await c.post(f"/v1/conversations/{cid}/messages",
                         json={"text": "[" * 500 + " what do these brackets mean?"})
        assert r.status_code == 202, r.text
