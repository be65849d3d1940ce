"""A minimal SSE client over httpx, reading events exactly as a browser would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ("Event", "EventReader", "collect", "events")


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


class EventReader:
    """Turns SSE lines into events, as a browser's EventSource does; ``line`` without its
    end-of-line. Shared by the httpx client below and the benchmarks' plain one."""

    def __init__(self) -> None:
        self._name = "message"
        self._data: list[str] = []
        self._id: str | None = None

    def line(self, line: str) -> Event | None:
        if line == "":
            done = Event(self._name, "\n".join(self._data), self._id) if self._data else None
            self._name, self._data, self._id = "message", [], None
            return done
        if not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                self._name = value
            elif field == "data":
                self._data.append(value)
            elif field == "id":
                self._id = value
        return None


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    reader = EventReader()
    async for line in response.aiter_lines():
        if (event := reader.line(line)) is not None:
            yield event


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
