"""What a chat client does, step by step, shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from harness.sse_client import Event, collect

__all__ = ("Answer", "ask", "new_conversation", "wait_for_messages")


@dataclass(frozen=True)
class Answer:
    request_id: str
    events: list[Event]

    @property
    def text(self) -> str:
        return "".join(e.json()["text"] for e in self.events if e.event == "token")

    @property
    def last(self) -> Event:
        return self.events[-1]


async def new_conversation(client: httpx.AsyncClient, title: str = "test") -> str:
    r = await client.post("/v1/conversations", json={"title": title})
    assert r.status_code == 201, r.text
    cid: str = r.json()["id"]
    return cid


async def ask(client: httpx.AsyncClient, cid: str, text: str, **body: Any) -> Answer:
    r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": text, **body})
    assert r.status_code == 202, r.text
    accepted = r.json()
    events = await collect(client, accepted["events_url"])
    return Answer(accepted["request_id"], events)


async def wait_for_messages(client: httpx.AsyncClient, cid: str, count: int,
                            timeout: float = 30.0, scored: bool = False) -> list[dict[str, Any]]:
    """The conversation's stored messages once ``count`` are there (persistence is a
    separate consumer group, so the store catches up a moment after ``done``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await client.get(f"/v1/conversations/{cid}/messages")
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        ready = len(data) >= count and (
            not scored or all(m["scores"] for m in data if m["role"] == "assistant"))
        if ready or asyncio.get_running_loop().time() > deadline:
            return data
        await asyncio.sleep(0.1)
