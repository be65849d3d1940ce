"""What a request must pass before any route, authentication or parser sees it.

A plain ASGI middleware (no BaseHTTPMiddleware: SSE streams untouched, no extra task):

- dev mode only: ``Host`` must be one of DEV_ALLOWED_HOSTS (a page that rebinds its DNS
  name to 127.0.0.1 sends its own name), and a browser's cross-site ``Origin`` is refused
  (a dev edge has no credentials, so any page could otherwise drive it);
- a body is JSON, or multipart on the upload route: anything else is 415, so a page's
  "simple" cross-site POST (text/plain, forms) is never served;
- bodies are counted on the bytes actually received, chunked or not, whatever
  ``Content-Length`` says: 413 once over the limit, before anything parses them;
- JSON nested deeper than :data:`~api.guards.depth.MAX_JSON_DEPTH` is 400 (the parsers
  would recurse), found by a scan linear in the body (:mod:`api.guards.depth`);
- with credentials, the credential is checked before a body is read (401 for the
  price of the headers), and the routes cheap to ask and costly to answer are rate
  limited per caller (:mod:`api.guards.throttle`, 429);
- at most ``max_in_flight`` requests at once (503 beyond, probes excepted), a user's
  streams capped (:mod:`api.guards.slots`, 429), and a stream whose reader stops reading for
  ``send_timeout_s`` is dropped, so a slow reader holds nothing for long.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_body
from api.guards.clients import Networks, client_address
from api.guards.depth import MAX_JSON_DEPTH, json_too_deep_async
from api.guards.sendwatch import SendWatch
from api.guards.sessions import ALIVE_CHECK_S, ALIVE_KEY
from api.guards.slots import SLOTS_KEY, StreamSlots, user_of
from api.guards.throttle import RouteThrottle
from api.openapi import is_public
from kernel.errors import ChatstreamError

__all__ = ("PROBES", "Boundary", "BoundaryMiddleware", "error_json", "host_allowed", "refuse")

# Routes whose body is a multipart upload (method, path); every other body is JSON.
MULTIPART_ROUTES = frozenset({("POST", "/v1/documents")})


@dataclass(frozen=True, slots=True)
class Boundary:
    max_json_bytes: int
    max_upload_bytes: int
    # Empty: any Host and Origin (AUTH=jwt: a bearer token is never sent by a browser
    # on its own, so there is nothing for a foreign page to ride on).
    allowed_hosts: frozenset[str] = frozenset()
    max_in_flight: int = 1000
    send_timeout_s: float = 30.0
    slots: StreamSlots | None = None
    # Checks a request's credential (401 as an ApiError) before its body is read or its
    # rate counted, and says who it is; None: no credentials here (AUTH=dev).
    authenticate: Callable[[Scope], Awaitable[str]] | None = None
    # Rates of routes cheap to ask and costly to answer, per caller (api/guards/throttle.py).
    throttles: tuple[RouteThrottle, ...] = ()
    # The reverse proxies whose X-Forwarded-For names the caller's address.
    trusted: Networks = ()


# Always answered, even at the in-flight cap: orchestrators must see the edge is alive.
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class _ClientGone(Exception):
    """The client went away before its request's body was whole."""


class _StopStream(Exception):
    """The stream was refused or its reader is gone: stop the app that sends it."""


class DocumentTooLarge(ApiError, HTTPException):
    """An upload over its limit, found while the form parser reads it: an
    :class:`ApiError` (413 ``document_too_large``), and an HTTPException too, which
    FastAPI's body parsing passes on (it makes any other error a 400)."""

    CODE = "document_too_large"

    def __init__(self, limit: int) -> None:
        message = f"upload over {limit} bytes"
        ApiError.__init__(self, 413, self.CODE, message)
        HTTPException.__init__(self, 413, message)


def _host_of(value: str) -> str:
    """``example.com:8000`` → ``example.com``; ``[::1]:8000`` → ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def host_allowed(value: str, allowed: frozenset[str]) -> bool:
    return "*" in allowed or _host_of(value) in allowed


def error_json(status: int, code: str, message: str) -> bytes:
    return json.dumps(error_body(status, code, message)).encode()


async def refuse(send: Send, status: int, code: str, message: str,
                 retry_after: str | None = None, *, close: bool = True,
                 headers: Mapping[str, str] | None = None) -> None:
    """Answer with the error and close the connection (unless ``close`` is false: the
    server then reads and drops what is left of the request's body, within its body
    timeout, and the connection serves the next request)."""
    body = error_json(status, code, message)
    fields = [(b"content-type", b"application/json"),
              (b"content-length", str(len(body)).encode())]
    if close:
        fields.append((b"connection", b"close"))
    if retry_after:
        fields.append((b"retry-after", retry_after.encode()))
    fields += [(k.lower().encode("latin-1"), v.encode("latin-1"))
               for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": body})


class BoundaryMiddleware:
    def __init__(self, app: ASGIApp, boundary: Boundary) -> None:
        self.app = app
        self.boundary = boundary
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] not in PROBES and self.in_flight >= self.boundary.max_in_flight:
            await refuse(send, 503, "busy", "this edge is at its request limit; retry "
                          "shortly (or on another replica)", retry_after="1")
            return
        self.in_flight += 1
        try:
            await self._checked(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[bytes, bytes] = dict(scope["headers"])
        allowed = self.boundary.allowed_hosts
        if allowed:
            host = headers.get(b"host", b"").decode("latin-1")
            if not host_allowed(host, allowed):
                await refuse(send, 400, "invalid_host", "this Host is not served; see "
                              "CHATSTREAM_DEV_ALLOWED_HOSTS")
                return
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and not host_allowed(urlsplit(origin).netloc, allowed):
                await refuse(send, 403, "cross_origin", "requests from other sites are "
                              "refused by a dev-mode edge")
                return
        for rule in self.boundary.throttles:
            if rule.matches(scope["method"], scope["path"]):
                if not await self._within_rate(rule, scope, send):
                    return
                break
        length = headers.get(b"content-length", b"")
        has_body = b"chunked" in headers.get(b"transfer-encoding", b"").lower() or (
            bool(length) and length != b"0")
        if not has_body:
            await self._serve(scope, receive, send)
            return
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        # An upload route also takes JSON (a page by URL), checked as any JSON body.
        multipart = (scope["method"], scope["path"].rstrip("/")) in MULTIPART_ROUTES \
            and kind != b"application/json"
        if multipart:
            if kind != b"multipart/form-data":
                await refuse(send, 415, "unsupported_media_type",
                             "uploads are multipart/form-data (or JSON with a url)")
                return
            limit = self.boundary.max_upload_bytes
            if length.isdigit() and int(length) > limit:
                await _drain(receive, limit)
                await refuse(send, 413, DocumentTooLarge.CODE, f"upload over {limit} bytes")
                return
        else:
            if kind != b"application/json" and not (
                    kind.startswith(b"application/") and kind.endswith(b"+json")):
                await refuse(send, 415, "unsupported_media_type",
                              "send the body as application/json")
                return
            limit = self.boundary.max_json_bytes
        if not await self._authenticated(scope, send):
            return
        if length.isdigit() and int(length) > limit:
            await _drain(receive, limit)
            await refuse(send, 413, "payload_too_large", f"body over {limit} bytes")
            return
        if multipart:
            # Streamed to the form parser (which spools to disk), counted as it comes.
            await self._serve(scope, _counting(receive, limit), send)
            return
        try:
            body = await _read(receive, limit)
        except _ClientGone:
            return  # nobody to answer
        if body is None:
            await _drain(receive, limit)
            await refuse(send, 413, "payload_too_large", f"body over {limit} bytes")
            return
        if await json_too_deep_async(body):
            await refuse(send, 400, "too_deep",
                          f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            return
        await self._serve(scope, _replay(body, receive), send)

    async def _within_rate(self, rule: RouteThrottle, scope: Scope, send: Send) -> bool:
        """Counts the request against its caller's rate (429 past it): the caller is its
        user (after its credential is checked), or its address."""
        if rule.by_user and self.boundary.authenticate is not None:
            try:
                caller = await self.boundary.authenticate(scope)
            except ApiError as exc:
                await refuse(send, exc.status, exc.code, exc.message, close=False,
                             headers=exc.headers)
                return False
            except ChatstreamError:
                return True  # the store cannot tell now: the route answers 503
        else:
            caller = client_address(HTTPConnection(scope), self.boundary.trusted)
        wait = rule.throttle.take(f"{rule.name}:{caller}")
        if wait is None:
            return True
        await refuse(send, 429, "rate_limited", f"at most {rule.throttle.per_minute} "
                     f"{rule.name} a minute; retry in {wait}s", retry_after=str(wait),
                     close=False)
        return False

    async def _authenticated(self, scope: Scope, send: Send) -> bool:
        """The credential, checked before a byte of the body is read: an anonymous 1 MiB
        JSON or 5 MB upload is refused for the price of its headers."""
        authenticate = self.boundary.authenticate
        if authenticate is None or is_public(scope["path"]):
            return True
        try:
            await authenticate(scope)
        except ApiError as exc:
            await refuse(send, exc.status, exc.code, exc.message, close=False,
                         headers=exc.headers)
            return False
        except ChatstreamError:
            pass  # the store cannot tell now: the route checks again and answers 503
        return True

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, with its streamed responses counted against the user's slots and
        each of their sends bounded in time."""
        slots = self.boundary.slots
        if slots is not None:
            scope[SLOTS_KEY] = slots  # routes that publish take theirs first (hold)
        watch: SendWatch | None = None  # a streamed response's sends, bounded in time
        checked = [time.monotonic()]

        async def send_(message: Message) -> None:
            nonlocal watch
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers", ())).get(b"content-type", b"")
                streaming = kind.startswith(b"text/event-stream")
                user = user_of(scope)
                if streaming and user is not None and slots is not None:
                    try:
                        slots.hold(scope, *user)
                    except ApiError as exc:
                        await refuse(send, exc.status, exc.code, exc.message,
                                     (exc.headers or {}).get("Retry-After"))
                        raise _StopStream from None
                if streaming and watch is None:
                    watch = SendWatch(self.boundary.send_timeout_s)
            if watch is None:
                await send(message)
                return
            await _still_allowed(scope, checked)
            if not await watch.sent(send, message):
                raise _StopStream from None  # the reader stopped reading

        try:
            await self.app(scope, receive, send_)
        except* _StopStream:
            pass  # refused with 429 (sent), or the connection is dropped unfinished
        finally:
            if watch is not None:
                watch.close()
            StreamSlots.release(scope)


async def _still_allowed(scope: Scope, checked: list[float]) -> None:
    """End a stream whose credential has died (a logout, a revoked key, a removed user)
    since it opened: asked every ALIVE_CHECK_S at most (api/guards/sessions.py)."""
    alive = scope.get(ALIVE_KEY)
    now = time.monotonic()
    if alive is not None and now - checked[0] >= ALIVE_CHECK_S:
        checked[0] = now
        if not await alive():
            raise _StopStream


async def _drain(receive: Receive, limit: int) -> None:
    """Read and drop what the client is still sending, up to a few times ``limit``, before
    refusing it: a server that answers mid-upload and closes makes the client's write fail
    with a reset, and it never reads the 413 (the lingering close of nginx and others).
    Nothing is kept or parsed; past the bound the connection is simply closed."""
    left = min(4 * limit, 64 * 1024 * 1024)
    while left > 0:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        left -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as more than ``limit`` bytes came. A client gone
    before its body ended (or cut off by the transport's body timeout) stops the request:
    half a body is not a body."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counting() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise DocumentTooLarge(limit)
        return message

    return counting
