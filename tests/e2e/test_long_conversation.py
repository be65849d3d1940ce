"""A conversation longer than the model's context window still gets answers: its oldest
turns are folded into a summary the model writes, which is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from stores.conversations.base import ConversationStore, StoredSummary
from stores.conversations.cassandra import CassandraConversationStore
from stores.conversations.sqlite import SQLiteConversationStore
from tests.e2e.chat import ask, new_conversation, wait_for_messages
from tests.support.stacks import Stack

FILLER = ("Note {i}: the quarterly report covers logistics, staffing and the new warehouse "
          "layout, with tables and charts on every page of section {i}. The appendix lists "
          "suppliers, delivery windows and the audit schedule for section {i}.")


async def _summary(stack: Stack, cid: str) -> StoredSummary | None:
    url = stack.env.get("CHATSTREAM_STORE")
    store: ConversationStore
    if url:
        store = CassandraConversationStore.from_url(url)
    else:
        path = Path(stack.env["CHATSTREAM_DATA_DIR"]) / "chatstream.db"
        store = SQLiteConversationStore(path)
    await store.start()
    try:
        return await store.get_summary("dev", cid)
    finally:
        await store.close()


async def test_a_conversation_longer_than_the_window_is_answered_from_its_summary(
        client: httpx.AsyncClient, stack: Stack) -> None:
    cid = await new_conversation(client)
    turns = ["My favourite city is Lisbon.", *(FILLER.format(i=i) for i in range(1, 6))]
    # A temporary chat (memory off): the favourite city must come back from the summary,
    # not from a memory learnt from the first turn, which would also take the window's room.
    for n, text in enumerate(turns, 1):
        answer = await ask(client, cid, text, model="local-tiny", memory=False)
        assert answer.last.event == "done", stack.logs()
        await wait_for_messages(client, cid, 2 * n)
    # Six turns of about 120 tokens each against a 400-token window: the first is gone
    # from the history the model sees, and only lives on in the summary.
    answer = await ask(client, cid, "Which city is my favourite?", model="local-tiny",
                       memory=False)
    assert answer.last.event == "done", stack.logs()
    assert "Lisbon" in answer.text

    summary = await _summary(stack, cid)
    for _ in range(50):
        if summary is not None:
            break
        await asyncio.sleep(0.1)
        summary = await _summary(stack, cid)
    assert summary is not None and "Lisbon" in summary.text
    stored = await wait_for_messages(client, cid, 14)
    assert summary.through_message_id in [m["id"] for m in stored[:-4]]
