"""A small web site on loopback for the URL fetcher's tests: pages, redirects, slow and
oversized bodies, any content type, and a record of every request with its headers.

A real HTTP/1.1 server (asyncio streams, one request per connection), so the fetcher is
tested over real sockets. ``start_in_thread`` serves it from a thread for tests of other
processes (a chatstream stack fetching from it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ("FakeSite", "Page", "SeenFetch")


@dataclass(frozen=True)
class Page:
    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    # Sent in this many pieces, ``pause_s`` apart (a trickle), without Content-Length
    # when ``chunked``.
    pieces: int = 1
    pause_s: float = 0.0
    chunked: bool = False
    first_byte_delay_s: float = 0.0

    @classmethod
    def redirect(cls, location: str, status: int = 302,
                 set_cookie: str | None = None) -> Page:
        headers: tuple[tuple[str, str], ...] = (("Location", location),)
        if set_cookie:
            headers += (("Set-Cookie", set_cookie),)
        return cls(status=status, content_type=None, headers=headers)


@dataclass
class SeenFetch:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeSite:
    def __init__(self) -> None:
        self.pages: dict[str, Page | Callable[[], Page]] = {}
        self.seen: list[SeenFetch] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def start_in_thread(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-site", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            self.seen.append(SeenFetch(path, headers))
            found = self.pages.get(path.split("?", 1)[0])
            page = (found() if callable(found) else found) or Page(b"not here", 404,
                                                                   "text/plain")
            await self._answer(writer, page)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, page: Page) -> None:
        if page.first_byte_delay_s:
            await asyncio.sleep(page.first_byte_delay_s)
        out = [f"HTTP/1.1 {page.status} X", "Connection: close"]
        if page.content_type:
            out.append(f"Content-Type: {page.content_type}")
        out += [f"{k}: {v}" for k, v in page.headers]
        out.append("Transfer-Encoding: chunked" if page.chunked
                   else f"Content-Length: {len(page.body)}")
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        size = max(1, -(-len(page.body) // page.pieces)) if page.body else 0
        for i in range(0, len(page.body), size or 1):
            piece = page.body[i:i + size]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if page.chunked
                         else piece)
            await writer.drain()
            if page.pause_s:
                await asyncio.sleep(page.pause_s)
        if page.chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
