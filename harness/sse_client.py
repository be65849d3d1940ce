"""A minimal SSE client over httpx, reading events exactly as a browser would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from kernel.sse_reader import Event, EventReader

__all__ = ("Event", "EventReader", "collect", "events")


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
