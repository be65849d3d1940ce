"""Persistence on the real stores (SQLite, and Cassandra live): one row per message
whatever the redeliveries, and the conversation of a chat-completions request created
without a lightweight transaction but without overwriting one that exists."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agents.inference.stage import assistant_message_id
from agents.persistence import KnownConversations, PersistenceDeps, handle
from harness.cleanup import drop_keyspace
from schemas.events import MessageReceived, ResponseCompleted, Usage
from stores.cassandra import CassandraSession
from stores.conversations.base import Conversation, ConversationStore
from stores.conversations.cassandra import CassandraConversationStore
from stores.conversations.sqlite import SQLiteConversationStore

CASSANDRA = f"127.0.0.1:{os.environ.get('CHATSTREAM_CASSANDRA_PORT', '9042')}"
T0 = datetime(2026, 5, 1, 9, 30, 0, 250001, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)])
async def store(request: pytest.FixtureRequest, tmp_path: Path
                ) -> AsyncIterator[ConversationStore]:
    adapter: ConversationStore
    url = ""
    if request.param == "sqlite":
        adapter = SQLiteConversationStore(tmp_path / "chat.db")
    else:
        url = f"cassandra://{CASSANDRA}/persist_{uuid.uuid4().hex[:10]}"
        adapter = CassandraConversationStore(CassandraSession.from_url(url))
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()
        if url:
            drop_keyspace(url)


def _request(cid: str) -> MessageReceived:
    return MessageReceived(tenant_id="t1", request_id=f"req-{uuid.uuid4().hex[:8]}",
                           message_id=f"msg-{uuid.uuid4().hex[:8]}", conversation_id=cid,
                           user_id="u1", text="What colour is the bridge?", model="local",
                           occurred_at=T0)


def _answer(req: MessageReceived, text: str, attempt: str, after_s: float) -> ResponseCompleted:
    return ResponseCompleted(
        tenant_id="t1", request_id=req.request_id,
        message_id=assistant_message_id(req.request_id), conversation_id=req.conversation_id,
        user_id="u1", reply_to=req.message_id, prompt=req.text, text=text, model="local",
        provider="local", usage=Usage(prompt_tokens=5, completion_tokens=3),
        finish_reason="stop", attempt=attempt, duration_ms=10.0,
        occurred_at=T0 + timedelta(seconds=after_s), requested_at=req.occurred_at)


async def _persist(event: MessageReceived | ResponseCompleted, store: ConversationStore,
                   known: KnownConversations | None = None) -> None:
    await handle(event, PersistenceDeps(store, None, known))


async def test_a_regenerated_answer_overwrites_the_one_row_of_its_request(
        store: ConversationStore) -> None:
    """Inference redelivered after a crash answers again, later and differently: the
    conversation still holds one question and one answer, the last one."""
    req = _request(f"conv-{uuid.uuid4().hex[:8]}")
    await _persist(req, store)
    await _persist(_answer(req, "Cobalt green.", "a1", after_s=2), store)
    await _persist(req, store)  # the request redelivered too
    await _persist(_answer(req, "It is cobalt green.", "a2", after_s=9), store)
    stored = await store.list_messages("t1", req.conversation_id)
    assert [(m.role, m.text) for m in stored] == [
        ("user", "What colour is the bridge?"), ("assistant", "It is cobalt green.")]
    assert stored[1].created_at == T0  # the request's time: one key per request
    reply = await store.get_reply("t1", req.request_id)
    assert reply is not None and reply.text == "It is cobalt green."


async def test_an_existing_conversation_keeps_its_title(store: ConversationStore) -> None:
    cid = f"conv-{uuid.uuid4().hex[:8]}"
    await store.create_conversation(Conversation("t1", cid, "u1", "Bridge colours",
                                                 T0 - timedelta(minutes=5)))
    known = KnownConversations(limit=2)
    await _persist(_request(cid), store, known)
    await _persist(_request(cid), store, known)
    found = await store.get_conversation("t1", cid)
    assert found is not None and found.title == "Bridge colours"
    assert found.created_at == T0 - timedelta(minutes=5)
    assert [c.id for c in await store.list_conversations("t1", "u1")] == [cid]


async def test_a_conversation_opened_by_its_first_message_is_created_once(
        store: ConversationStore) -> None:
    cid = f"conv-{uuid.uuid4().hex[:8]}"
    req = _request(cid)
    for _ in range(2):  # a redelivery, with nothing remembered in between
        await _persist(req, store, KnownConversations())
    found = await store.get_conversation("t1", cid)
    assert found is not None and found.title == "What colour is the bridge?"
    assert [c.id for c in await store.list_conversations("t1", "u1")] == [cid]


def _opened(cid: str) -> MessageReceived:
    return _request(cid).model_copy(update={"opens_conversation": True})


def _statements(kind: str) -> float:
    return REGISTRY.get_sample_value("chatstream_store_statements_total", {"kind": kind}) or 0


async def test_a_conversation_its_request_opened_is_written_without_a_read(
        store: ConversationStore) -> None:
    """The chat-completions routes open a conversation per request: its first message
    costs one batch creating it, not a read and a batch."""
    req = _opened(f"conv-{uuid.uuid4().hex[:8]}")
    reads, batches = _statements("SELECT conversations"), _statements("BATCH")
    await _persist(req, store, KnownConversations())
    if isinstance(store, CassandraConversationStore):
        assert _statements("SELECT conversations") == reads
        assert _statements("BATCH") == batches + 1
    found = await store.get_conversation("t1", req.conversation_id)
    assert found is not None and found.title == "What colour is the bridge?"
    assert found.created_at == T0


async def test_a_redelivered_opening_leaves_a_later_title_and_settings(
        store: ConversationStore) -> None:
    """Written without a read, a conversation its request opened still keeps what was
    written to it since: the user's rename and settings survive the event's redelivery."""
    req = _opened(f"conv-{uuid.uuid4().hex[:8]}")
    await _persist(req, store, KnownConversations())
    assert await store.update_conversation("t1", req.conversation_id, title="Bridges",
                                           settings={"system": "Be brief."})
    await _persist(req, store, KnownConversations())
    found = await store.get_conversation("t1", req.conversation_id)
    assert found is not None and found.title == "Bridges"
    assert found.settings == {"system": "Be brief."}
    assert [c.title for c in await store.list_conversations("t1", "u1")] == ["Bridges"]


@pytest.mark.parametrize(
    "store", [pytest.param("cassandra", marks=pytest.mark.cassandra)], indirect=True)
async def test_a_redelivered_opening_does_not_bring_back_a_deleted_conversation(
        store: ConversationStore) -> None:
    """Cassandra only (SQLite stores an opened conversation again, as any other): the
    opening is written at the request's time, so the deletion, newer, wins over its
    redelivery (the conversation is neither found nor listed)."""
    req = _opened(f"conv-{uuid.uuid4().hex[:8]}")
    await _persist(req, store, KnownConversations())
    assert await store.delete_conversation("t1", req.conversation_id)
    await _persist(req, store, KnownConversations())
    assert await store.get_conversation("t1", req.conversation_id) is None
    assert await store.list_conversations("t1", "u1") == []
