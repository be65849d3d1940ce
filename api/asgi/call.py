"""One request to a pure-ASGI route: what it needs of the ASGI scope, read once, and the
ways it answers. The boundary (:mod:`api.guards.boundary`) has checked the request's
host, media type, size and depth, and with AUTH=jwt its credential, before it gets here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from api.deps import Principal, principal_of
from api.errors import ApiError, error_of, invalid
from api.services import EdgeServices

__all__ = ("Call", "encode_headers")

M = TypeVar("M", bound=BaseModel)
_JSON = (b"content-type", b"application/json")


def encode_headers(headers: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in (headers or {}).items()]


class Call:
    """The request of ``scope`` to a hot route, its path parameters ``params``."""

    __slots__ = ("headers", "params", "receive", "scope", "send", "services", "started")

    def __init__(self, scope: Scope, receive: Receive, send: Send, services: EdgeServices,
                 params: dict[str, str]) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.services = services
        self.params = params
        # ASGI header names are lower case; a repeated header keeps its last value.
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.started = False  # the response's status has been sent

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def query(self, name: str) -> str | None:
        raw: bytes = self.scope.get("query_string", b"")
        if raw:
            for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
                if key == name:
                    return value
        return None

    async def principal(self) -> Principal:
        return await principal_of(self.services, self.scope)

    async def body(self) -> bytes:
        """The whole body (the boundary has read and bounded it already)."""
        parts: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                return b""  # gone before sending it: nobody reads the answer
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(parts)

    async def json(self) -> Any:
        """The body parsed (the one parse of the request), None when there is none; 422
        ``invalid_json`` when it is not JSON."""
        raw = await self.body()
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(422, "invalid_json", "the body is not valid JSON") from None

    @staticmethod
    def valid(model: type[M], raw: Any) -> M:
        """``raw`` (parsed JSON) as ``model``, or 422 naming the fields at fault."""
        if raw is None:
            raise ApiError(422, "invalid_request", "Field required")
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise invalid(exc.errors(include_url=False)) from None

    async def respond(self, status: int, body: bytes,
                      headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """A JSON response, whole."""
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": [
            _JSON, (b"content-length", b"%d" % len(body)), *headers]})
        await self.send({"type": "http.response.body", "body": body})

    async def reply(self, response: Response) -> None:
        """A response made for the framework (an OpenAI-shaped error, a whole answer)."""
        self.started = True
        await response(self.scope, self.receive, self.send)

    async def fail(self, exc: Exception) -> None:
        """The error the edge answers ``exc`` with (:func:`api.errors.error_of`)."""
        status, body, headers = error_of(exc)
        await self.respond(status, orjson.dumps(body), encode_headers(headers))
