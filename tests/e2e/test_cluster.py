"""Through the cluster's round-robin proxy (CHATSTREAM_E2E_STACKS=cluster), a client's
stream moves between edges mid-answer and goes on with no gap and no repeat."""

from __future__ import annotations

import httpx
import pytest

from harness.sse_client import Event, events
from tests.e2e.chat import new_conversation, wait_for_messages
from tests.support.stacks import Stack

LONG = ("Please remember this for the migration plan: the database moves on Tuesday, the "
        "cache moves on Wednesday, the queue workers move on Thursday, the search cluster "
        "moves on Friday, and the old racks are wiped and recycled the following Monday.")


async def _read(client: httpx.AsyncClient, url: str, *, stop_after: int | None = None,
                headers: dict[str, str] | None = None) -> tuple[str, list[Event]]:
    out: list[Event] = []
    async with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        edge = r.headers["x-chatstream-edge"]
        async for e in events(r):
            out.append(e)
            if e.event in ("done", "error") or (stop_after and len(out) >= stop_after):
                break
    return edge, out


def _text(got: list[Event]) -> str:
    return "".join(e.json()["text"] for e in got if e.event == "token")


@pytest.mark.cluster_only
async def test_a_stream_moves_to_the_other_edge_mid_answer(client: httpx.AsyncClient,
                                                           stack: Stack) -> None:
    cid = await new_conversation(client)
    r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": LONG})
    assert r.status_code == 202
    url = r.json()["events_url"]
    first_edge, first = await _read(client, url, stop_after=5)
    assert first[-1].event != "done", "the answer ended before the move; make it longer"
    last_id = [e.id for e in first if e.id][-1]
    second_edge, rest = await _read(client, url, headers={"Last-Event-ID": last_id})
    assert second_edge != first_edge  # the proxy sent the resumed stream elsewhere
    assert rest[-1].event == "done", stack.logs()

    _, whole = await _read(client, url)
    assert [e.id for e in first + rest if e.id] == [e.id for e in whole if e.id]
    assert _text(first) + _text(rest) == _text(whole)
    stored = await wait_for_messages(client, cid, 2)
    assert stored[1]["text"] == _text(whole)


@pytest.mark.cluster_only
async def test_requests_alternate_between_the_edges(client: httpx.AsyncClient,
                                                    stack: Stack) -> None:
    seen = [(await client.get("/healthz")).headers["x-chatstream-edge"] for _ in range(4)]
    assert set(seen) == {"0", "1"}
