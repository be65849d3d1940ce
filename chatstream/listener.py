"""The HTTP listener of every process: uvicorn, with the time and size bounds it lacks.

uvicorn's httptools protocol has no header size or count limit and no header or body
timeout: a client could hold a socket forever with half a request line, send a 64 MB
header (which the parser accumulates piece by piece, copying it each time), or hold an
in-flight slot with half a body. :class:`GuardedProtocol` adds, per connection:

- the request line and headers within ``max_header_bytes`` and ``max_headers`` (431 and
  the connection closed as soon as either is passed, counted on the bytes received, so a
  huge header costs one refusal, not its parsing);
- the headers within ``header_timeout_s`` of the request's first byte (or of the
  connection, for its first request), the body within ``body_timeout_s`` of the headers:
  408 and closed otherwise, whether or not the app still reads the body (one answered
  early, a 401, keeps its connection only while the rest of the body keeps coming);
- at most ``max_connections`` connections, and ``max_connections_per_address`` per client
  address (TRUSTED_PROXIES excepted, they carry many clients): a request on a connection
  past either is refused (503 / 429, closed), except the probes, which always answer.

Idle keep-alive connections close after ``keep_alive_s`` (uvicorn's own timer). The
edge's own request cap, body limits and stream bounds are ASGI, in
:mod:`api.guards.boundary`; this is the layer below, where no route can reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.guards.boundary import PROBES, error_json, refuse
from api.guards.clients import Networks
from kernel.errors import ConfigurationError

__all__ = ("GuardedProtocol", "TransportLimits", "listen")


# How long, and how much, a connection refused mid-request is read (and dropped) before
# it is closed.
_LINGER_S = 2.0
_LINGER_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TransportLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keep_alive_s: int = 5
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_connections: int = 1100
    max_connections_per_address: int = 128
    # Peers that carry many clients (the reverse proxies): not capped per address.
    trusted: Networks = ()


def _refusal(status: int, code: str, message: str) -> ASGI3Application:
    async def app(scope: Scope, receive: ASGIReceiveCallable,
                  send: ASGISendCallable) -> None:
        await refuse(send, status, code, message, retry_after="1")  # type: ignore[arg-type]
    return app


_BUSY = _refusal(503, "busy", "this edge holds as many connections as it may; retry "
                 "shortly (or on another replica)")
_TOO_MANY = _refusal(429, "too_many_connections", "too many connections from this address")


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol within :class:`TransportLimits`. Made per server by
    :func:`protocol_for` (the per-address counts belong to one listening socket)."""

    limits: ClassVar[TransportLimits] = TransportLimits()
    peers: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # ours: counted per address, probes answered
        self._timer: asyncio.TimerHandle | None = None
        self._peer: str | None = None
        self._ended = False  # answered and closing for a bound: drop the rest
        self._lingered = 0
        self._reading_head = True
        self._head_received = 0  # raw bytes received while reading this head
        self._head_size = 0  # the request line and headers parsed so far
        self._header_count = 0

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client and not self._trusted(self.client[0]):
            self._peer = self.client[0]
            self.peers[self._peer] += 1
        self._arm(self.limits.header_timeout_s, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._peer is not None:
            self.peers[self._peer] -= 1
            if self.peers[self._peer] <= 0:
                del self.peers[self._peer]
            self._peer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._ended:
            self._lingered += len(data)
            if self._lingered > _LINGER_BYTES:
                self.transport.close()
            return
        if self._reading_head:
            self._head_received += len(data)
            if self._timer is None:  # the first byte of a request after an idle spell
                self._arm(self.limits.header_timeout_s, self._head_expired)
        super().data_received(data)
        # A head still unfinished after all it received: everything counted was head.
        if self._reading_head and not self._ended \
                and self._head_received > self.limits.max_header_bytes:
            self._end(431, "headers_too_large",
                      f"request line and headers over {self.limits.max_header_bytes} bytes")

    # -- parser callbacks ----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size <= self.limits.max_header_bytes:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._head_size += len(name) + len(value) + 4
        if self._header_count <= self.limits.max_headers \
                and self._head_size <= self.limits.max_header_bytes:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._ended:
            return
        self._cancel()
        self._reading_head = False
        if self._header_count > self.limits.max_headers:
            self._end(431, "too_many_headers", f"more than {self.limits.max_headers} headers")
            return
        if self._head_size > self.limits.max_header_bytes:
            self._end(431, "headers_too_large",
                      f"request line and headers over {self.limits.max_header_bytes} bytes")
            return
        with self._app(self._cap_refusal()):
            super().on_headers_complete()
        self._arm(self.limits.body_timeout_s, self._body_expired)

    def on_body(self, body: bytes) -> None:
        if not self._ended:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._ended:
            return
        self._cancel()
        self._reading_head = True
        self._head_received = self._head_size = self._header_count = 0
        super().on_message_complete()

    # -- bounds --------------------------------------------------------------------------

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.limits.trusted)

    def _cap_refusal(self) -> ASGI3Application | None:
        try:
            path = httptools.parse_url(self.url).path.decode("latin-1")
        except httptools.HttpParserInvalidURLError:
            return None  # uvicorn answers 400
        if path in PROBES:
            return None
        if len(self.connections) > self.limits.max_connections:
            return _BUSY
        if self._peer is not None \
                and self.peers[self._peer] > self.limits.max_connections_per_address:
            return _TOO_MANY
        return None

    @contextlib.contextmanager
    def _app(self, app: ASGI3Application | None) -> Iterator[None]:
        """Run the request with ``app`` instead of the edge (uvicorn picks it up when it
        makes the request's cycle, as it does for its own concurrency limit)."""
        if app is None:
            yield
            return
        edge, self.app = self.app, app
        try:
            yield
        finally:
            self.app = edge

    def _head_expired(self) -> None:
        self._timer = None
        if self._reading_head:
            if self._head_received:
                self._end(408, "header_timeout", "the request's headers took longer than "
                          f"{self.limits.header_timeout_s:g} s")
            else:
                self._end()  # nothing asked: nobody to answer

    def _body_expired(self) -> None:
        self._timer = None
        if self.cycle is not None and self.cycle.more_body:
            self._end(408, "body_timeout",
                      f"the request's body took longer than {self.limits.body_timeout_s:g} s")

    def _end(self, status: int | None = None, code: str = "", message: str = "") -> None:
        """Answer ``status`` unless a response is under way, and close the connection."""
        self._ended = True
        self._cancel()
        cycle = self.cycle
        if status is not None and (cycle is None or not cycle.response_started
                                   or cycle.response_complete):
            body = error_json(status, code, message)
            self.transport.write(b"".join([
                STATUS_LINE[status], b"content-type: application/json\r\n",
                b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body), body]))
        if cycle is not None and not cycle.response_complete:
            # The app still running sees the client gone, and writes nothing more.
            cycle.disconnected = True
            cycle.message_event.set()
        if status is None or not self.transport.can_write_eof():
            self.transport.close()
            return
        # A lingering close (as nginx's): the answer and a FIN go out, and what the client
        # is still sending is read and dropped for a moment. Closed at once, the socket
        # would answer that data with a reset, and the client would lose the answer.
        self.transport.write_eof()
        self._arm(_LINGER_S, self.transport.close)

    def _arm(self, delay: float, callback: Any) -> None:
        self._cancel()
        self._timer = self.loop.call_later(delay, callback)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def protocol_for(limits: TransportLimits) -> type[GuardedProtocol]:
    """A protocol class of its own for one server: its limits and its address counts."""

    class Guarded(GuardedProtocol):
        pass

    Guarded.limits = limits
    Guarded.peers = Counter()
    return Guarded


class _QuietServer(uvicorn.Server):
    """Signals are handled by the caller, which stops the stages too; uvicorn must not
    take them over (it would re-raise SIGINT after its own shutdown)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn ends the process with sys.exit(3) when it cannot bind: raised inside
        # the serving task it stopped the loop with a traceback ("Task exception was
        # never retrieved") instead of :func:`listen`'s one-line reason.
        try:
            await super().startup(sockets)
        except SystemExit:
            self.should_exit = True


async def listen(app: Any, host: str, port: int, role: str,
                 limits: TransportLimits) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve ``app`` on ``host``:``port`` and print its URL once it listens."""
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 before the
    # edge consults TRUSTED_PROXIES (api/guards/clients.py decides, alone).
    config = uvicorn.Config(app, host=host, port=port, http=protocol_for(limits),
                            log_level="warning", lifespan="off", timeout_graceful_shutdown=5,
                            timeout_keep_alive=limits.keep_alive_s, proxy_headers=False)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise ConfigurationError(f"the {role} could not listen on {host}:{port} (is "
                                     "another process using the port? choose another "
                                     "with --port or its CHATSTREAM_ setting)")
        await asyncio.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"chatstream {role} listening on http://{shown}:{bound}/", flush=True)
    return server, task
