"""Found by reading #26: the credential is checked before a body is read.

Attack: an anonymous (or forged) request with a 1 MiB JSON body or a 5 MB upload was read
whole (and counted and scanned) before the route found it had no credential: any client
on the network could make the edge read, hold and scan megabytes for nothing."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from tests.security.support import Edge

MIB = 1024 * 1024


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines
                                                    if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(("path", "kind", "size", "credential"), [
    ("/v1/conversations", "application/json", MIB, None),
    ("/v1/chat/completions", "application/json", MIB, "Bearer not-a-token"),
    ("/v1/documents", "multipart/form-data; boundary=x", 5 * MIB, None),
    ("/v1/documents", "multipart/form-data; boundary=x", 5 * MIB, "Bearer cs_0123456789ab_x"),
], ids=["json-anonymous", "json-forged", "upload-anonymous", "upload-forged-key"])
async def test_no_credential_no_body_read(jwt_edge: Edge, path: str, kind: str, size: int,
                                          credential: str | None) -> None:
    url = urlsplit(jwt_edge.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        auth = f"Authorization: {credential}\r\n" if credential else ""
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {kind}\r\n"
                     f"Content-Length: {size}\r\n{auth}\r\n".encode())
        await writer.drain()
        # Not a byte of the body sent: the edge answers from the headers alone.
        status, headers, _ = await asyncio.wait_for(_head(reader), 10)
        assert status == 401
        assert headers["www-authenticate"] == "Bearer"
        assert "close" not in headers.get("connection", "")
        # The body sent anyway is dropped unread, and the connection serves on.
        writer.write(b"x" * size + f"GET /healthz HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n"
                     .encode())
        await writer.drain()
        status, _, body = await asyncio.wait_for(_head(reader), 30)
        assert status == 200 and b"ok" in body
    finally:
        writer.close()


async def test_a_signed_in_client_still_sends_bodies(jwt_edge: Edge) -> None:
    await jwt_edge.login("owner@acme.io")
    async with jwt_edge.client("owner@acme.io") as c:
        r = await c.post("/v1/conversations", json={"title": "with a body"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "hello"})
        assert r.status_code == 202, r.text
        r = await c.post("/v1/documents", files={"file": ("a.txt", b"some text", "text/plain")})
        assert r.status_code == 202, r.text
