"""A fake chat-completions server: a real HTTP server on loopback that speaks OpenAI's
``/v1/chat/completions`` protocol (and Groq's ``/openai/v1/chat/completions``), for tests
and benchmarks. It is the test double of the hosted model APIs, driven through the
official SDKs exactly as they are.

Each request is answered by the next planned :class:`Reply` (or the default one): a
stream of N tokens at a set pace, a 429 with ``Retry-After``, a 5xx, a slow first token,
a connection cut in the middle, a malformed chunk. A reply planned with a ``marker``
answers only a request whose last user message contains that marker: on a server many
tests share, a late call of an earlier test (a title, a summary, a retry) cannot take
the reply another test planned, and gets the default instead. The server records what it was asked
and how each stream ended, including a client closing the connection early.

``python -m harness.fake_models --port 8090 --tokens 200 --pace-ms 20`` runs one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn

__all__ = ("FakeModelServer", "FakeToolCall", "Reply", "SeenRequest")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHAT_PATHS = ("/v1/chat/completions", "/openai/v1/chat/completions")
Outcome = Literal["pending", "completed", "disconnected", "cut", "malformed", "error", "errored"]


@dataclass(frozen=True)
class FakeToolCall:
    """A tool call the fake model makes; its arguments are streamed a few characters a
    chunk, as OpenAI streams them."""

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """How the server answers one request."""

    text: str | None = None
    """The answer. None: ``tok0 tok1 ...`` when ``tokens`` is set, else an echo."""
    tokens: int | None = None
    pace_s: float = 0.0
    """Pause between two content chunks."""
    first_token_delay_s: float = 0.0
    """Pause after the response headers, before the first chunk."""
    status: int = 200
    retry_after: str | None = None
    cut_after: int | None = None
    """Abort the connection after this many content chunks (no terminating chunk)."""
    malformed_after: int | None = None
    """Send a chunk that is not JSON after this many content chunks."""
    error_after: int | None = None
    """Send an error event (as OpenAI does when a stream fails on its side) after this
    many content chunks, then end the body."""
    finish_reason: str = "stop"
    tool_calls: tuple[FakeToolCall, ...] = ()
    """Tool calls made after the text (no text unless ``text`` is set)."""
    error: dict[str, Any] | None = None
    """The error object of a failing status or of an error event mid-stream (OpenAI's
    ``message``, ``type``, ``param``, ``code``); a generic one when not set."""

    @classmethod
    def calling(cls, *calls: FakeToolCall, text: str | None = None) -> Reply:
        return cls(text=text, tool_calls=calls, finish_reason="tool_calls")

    @classmethod
    def stream(cls, text: str | None = None, *, tokens: int | None = None,
               pace_s: float = 0.0) -> Reply:
        return cls(text=text, tokens=tokens, pace_s=pace_s)

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> Reply:
        return cls(status=429, retry_after=str(retry_after))

    @classmethod
    def failing(cls, status: int = 500, message: str | None = None, *,
                type: str | None = None, code: str | None = None,
                param: str | None = None) -> Reply:
        error = None
        if message is not None or type or code or param:
            error = {"message": message or f"fake {status}", "type": type, "param": param,
                     "code": code}
        return cls(status=status, error=error)

    @classmethod
    def slow(cls, first_token_delay_s: float, text: str | None = None) -> Reply:
        return cls(text=text, first_token_delay_s=first_token_delay_s)

    @classmethod
    def cut(cls, after: int, text: str | None = None) -> Reply:
        return cls(text=text, cut_after=after)

    @classmethod
    def malformed(cls, after: int, text: str | None = None) -> Reply:
        return cls(text=text, malformed_after=after)

    @classmethod
    def erroring(cls, after: int, text: str | None = None,
                 error: dict[str, Any] | None = None) -> Reply:
        return cls(text=text, error_after=after, error=error)


@dataclass
class SeenRequest:
    """One request the server received, and how its answer ended."""

    path: str
    body: dict[str, Any]
    authorization: str
    reply: Reply
    outcome: Outcome = "pending"
    chunks_sent: int = 0
    received_at: float = field(default_factory=time.monotonic)

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        found = self.body.get("messages")
        return found if isinstance(found, list) else []


class _Cut(Exception):
    """Raised inside the app so the server drops the connection mid-response."""


class _Server(uvicorn.Server):
    # Whoever runs the fake server owns the process's signals, never the fake itself.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _pieces(reply: Reply, body: dict[str, Any]) -> list[str]:
    if reply.tool_calls and reply.text is None:
        return []
    if reply.text is not None:
        text = reply.text
    elif reply.tokens is not None:
        return [f"tok{i} " if i < reply.tokens - 1 else f"tok{i}" for i in range(reply.tokens)]
    else:
        text = f"You said: {_last_user(body)}"
    return re.findall(r"\S+\s*", text) or [text]


def _last_user(body: dict[str, Any]) -> str:
    last = ""
    for m in body.get("messages") or []:
        if isinstance(m, dict) and m.get("role") == "user":
            last = _content(m.get("content"))
    return last


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return ""


def _call_id(call: FakeToolCall, index: int) -> str:
    return call.id or f"call_fake_{index}"


def _call_chunks(calls: tuple[FakeToolCall, ...]) -> list[dict[str, Any]]:
    """The ``delta.tool_calls`` of the chunks that stream ``calls``: the first of each
    names it, the next ones carry its arguments eight characters at a time."""
    out: list[dict[str, Any]] = []
    for i, call in enumerate(calls):
        out.append({"index": i, "id": _call_id(call, i), "type": "function",
                    "function": {"name": call.name, "arguments": ""}})
        out += [{"index": i, "function": {"arguments": call.arguments[j:j + 8]}}
                for j in range(0, len(call.arguments), 8)]
    return out


def _usage(body: dict[str, Any], completion: int) -> dict[str, int]:
    chars = sum(len(_content(m.get("content"))) for m in body.get("messages") or []
                if isinstance(m, dict))
    prompt = max(1, chars // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


class FakeModelServer:
    """The server; ``async with FakeModelServer() as fake:`` or :meth:`start_in_thread`."""

    def __init__(self, default: Reply | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, shared: bool = False) -> None:
        """``shared``: several tests drive this server, so each reply planned on it must
        name the marker of the request it answers (:meth:`plan`)."""
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the fake model server only listens on loopback")
        self.default = default or Reply()
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._shared = shared
        self._plan: deque[Reply] = deque()
        self._marked: dict[str, deque[Reply]] = {}
        self._seen: list[SeenRequest] = []
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._thread_stop: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self.url = ""

    # -- control (thread-safe: tests may drive a server running in another thread) --

    def plan(self, *replies: Reply, marker: str | None = None) -> None:
        """Answer the next requests with ``replies``, in order, then with the default.
        With ``marker``, only the requests whose last user message contains it take them
        (the first marker planned wins when several match); the others go on to the
        unmarked plan, then the default."""
        if marker is None and self._shared:
            raise ValueError("a reply planned on a shared server names its marker")
        if marker == "":
            raise ValueError("an empty marker would match every request")
        with self._lock:
            if marker is None:
                self._plan.extend(replies)
            else:
                self._marked.setdefault(marker, deque()).extend(replies)

    def set_default(self, reply: Reply) -> None:
        with self._lock:
            self.default = reply

    def reset(self) -> None:
        if self._shared:  # its records and plans are every test's, not the caller's
            raise ValueError("a shared server is never reset")
        with self._lock:
            self._plan.clear()
            self._marked.clear()
            self._seen.clear()

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    def outcomes(self) -> list[Outcome]:
        return [r.outcome for r in self.requests]

    def asked(self, marker: str) -> list[SeenRequest]:
        """The requests whose messages contain ``marker``: how many upstream calls one
        client request made, when each test's questions carry a marker of their own."""
        return [r for r in self.requests
                if any(marker in json.dumps(m) for m in r.messages)]

    @property
    def openai_base_url(self) -> str:
        """What the openai SDK takes as ``base_url``."""
        return f"{self.url}/v1"

    @property
    def groq_base_url(self) -> str:
        """What the groq SDK takes as ``base_url`` (it adds ``/openai/v1/...``)."""
        return self.url

    def _next(self, path: str, body: dict[str, Any], authorization: str) -> SeenRequest:
        last = _last_user(body)
        with self._lock:
            marker = next((m for m in self._marked if m in last), None)
            if marker is not None:
                reply = self._marked[marker].popleft()
                if not self._marked[marker]:
                    del self._marked[marker]
            else:
                reply = self._plan.popleft() if self._plan else self.default
            seen = SeenRequest(path, body, authorization, reply)
            self._seen.append(seen)
            return seen

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> str:
        config = uvicorn.Config(self, host=self._host, port=self._port, lifespan="off",
                                log_config=None, log_level="critical", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the fake model server did not start")
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self._host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def __aenter__(self) -> FakeModelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> str:
        """Serve from a thread with its own event loop (for synchronous fixtures)."""
        ready = threading.Event()
        failure: list[BaseException] = []
        handles: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

        async def main() -> None:
            stop = asyncio.Event()
            handles.append((asyncio.get_running_loop(), stop))
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                raise
            finally:
                ready.set()
            await stop.wait()
            await self.stop()

        def run() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(main())

        self._thread = threading.Thread(target=run, name="fake-model-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            raise RuntimeError(f"the fake model server did not start: {failure}")
        self._thread_stop = handles[0]
        return self.url

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._thread is not None and self._thread_stop is not None:
            loop, stop = self._thread_stop
            loop.call_soon_threadsafe(stop.set)
            self._thread.join(timeout)
            self._thread = None

    # -- the ASGI application -------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path in ("/v1/models", "/openai/v1/models"):
            await _json(send, 200, {"object": "list", "data": []})
            return
        if method != "POST" or path not in CHAT_PATHS:
            await _json(send, 404, _error("not_found_error", f"no route {method} {path}"))
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(raw)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            await _json(send, 400, _error("invalid_request_error", "body is not JSON"))
            return
        headers = dict(scope.get("headers") or ())
        seen = self._next(path, body, headers.get(b"authorization", b"").decode())
        reply = seen.reply
        if reply.status != 200:
            seen.outcome = "error"
            extra = [(b"retry-after", reply.retry_after.encode())] if reply.retry_after else []
            kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
            payload = {"error": reply.error} if reply.error is not None \
                else _error(kind, f"fake {reply.status}")
            await _json(send, reply.status, payload, extra)
            return
        disconnect = asyncio.ensure_future(_disconnected(receive))
        try:
            if body.get("stream"):
                await self._stream(seen, body, send, disconnect)
            else:
                await self._complete(seen, body, send, disconnect)
        finally:
            disconnect.cancel()

    async def _complete(self, seen: SeenRequest, body: dict[str, Any], send: Send,
                        disconnect: asyncio.Future[None]) -> None:
        reply = seen.reply
        if await _pause(reply.first_token_delay_s, disconnect):
            seen.outcome = "disconnected"
            return
        pieces = _pieces(reply, body)
        message: dict[str, Any] = {"role": "assistant",
                                   "content": "".join(pieces) if pieces else None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": _call_id(c, i), "type": "function",
                 "function": {"name": c.name, "arguments": c.arguments}}
                for i, c in enumerate(reply.tool_calls)]
        await _json(send, 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": reply.finish_reason}],
            "usage": _usage(body, len(pieces)),
        })
        seen.outcome = "completed"

    async def _stream(self, seen: SeenRequest, body: dict[str, Any], send: Send,
                      disconnect: asyncio.Future[None]) -> None:
        reply = seen.reply
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", "fake")}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def event(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(
                {**base, **({"usage": None} if include_usage else {}), **payload})
            await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(),
                        "more_body": True})

        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        if await _pause(reply.first_token_delay_s, disconnect):
            seen.outcome = "disconnected"
            return
        await event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "finish_reason": None}]})
        pieces = _pieces(reply, body)
        for i, piece in enumerate(pieces):
            if i and await _pause(reply.pace_s, disconnect):
                seen.outcome = "disconnected"
                return
            if reply.cut_after is not None and i == reply.cut_after:
                seen.outcome = "cut"
                raise _Cut(f"cut after {i} chunks")
            if reply.malformed_after is not None and i == reply.malformed_after:
                seen.outcome = "malformed"
                await event('{"choices": [{"index": 0, "delta": {"content": "oops')
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if reply.error_after is not None and i == reply.error_after:
                seen.outcome = "errored"
                await event(json.dumps({"error": reply.error or {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error"}}))
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await event({"choices": [{"index": 0, "delta": {"content": piece},
                                      "finish_reason": None}]})
            seen.chunks_sent += 1
        for call in _call_chunks(reply.tool_calls):
            if await _pause(reply.pace_s, disconnect):
                seen.outcome = "disconnected"
                return
            await event({"choices": [{"index": 0, "delta": {"tool_calls": [call]},
                                      "finish_reason": None}]})
            seen.chunks_sent += 1
        if disconnect.done():
            seen.outcome = "disconnected"
            return
        finish: dict[str, Any] = {"choices": [{"index": 0, "delta": {},
                                               "finish_reason": reply.finish_reason}]}
        if seen.path.startswith("/openai/"):  # Groq reports usage in its own extension
            finish["x_groq"] = {"id": cid, "usage": _usage(body, len(pieces))}
        await event(finish)
        if include_usage:
            await event({"choices": [], "usage": _usage(body, len(pieces))})
        await event("[DONE]")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        seen.outcome = "completed"


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _pause(seconds: float, disconnect: asyncio.Future[None]) -> bool:
    """Wait ``seconds``; True when the client went away meanwhile."""
    if seconds > 0:
        await asyncio.wait({disconnect}, timeout=seconds)
    else:
        await asyncio.sleep(0)
    return disconnect.done()


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


async def _json(send: Send, status: int, payload: dict[str, Any],
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data, "more_body": False})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a fake OpenAI-compatible model server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--tokens", type=int, default=None, help="tokens per answer")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="pause between tokens")
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    default = Reply(tokens=args.tokens, pace_s=args.pace_ms / 1000,
                    first_token_delay_s=args.first_token_ms / 1000)

    async def serve() -> None:
        server = FakeModelServer(default, host=args.host, port=args.port)
        url = await server.start()
        print(f"fake model server on {url}/v1 (groq: {url})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
