"""A minimal SSE client over httpx, reading events exactly as a browser would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ("Event", "collect", "events")


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    name, data, eid = "message", [], None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Event(name, "\n".join(data), eid)
            name, data, eid = "message", [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                eid = value


async def collect(client: httpx.AsyncClient, url: str, *, headers: dict[str, str] | None = None,
                  stop_after: int | None = None, timeout: float = 60.0) -> list[Event]:
    """Events of one stream until ``done``/``error`` (or ``stop_after`` events)."""
    out: list[Event] = []
    # Keep-alive pings would hold a lost stream open for ever: bound the whole read.
    try:
        async with asyncio.timeout(timeout), client.stream(
                "GET", url, headers=headers, timeout=timeout) as response:
            assert response.status_code == 200, await response.aread()
            async for e in events(response):
                out.append(e)
                if e.event in ("done", "error") or (stop_after and len(out) >= stop_after):
                    break
    except TimeoutError:
        raise AssertionError(f"stream {url} did not finish in {timeout}s; got "
                             f"{[e.event for e in out]}") from None
    return out
