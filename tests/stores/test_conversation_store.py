"""One contract for every ConversationStore adapter: SQLite on disk, Cassandra live.

The Cassandra cases use the server ``deploy/local/services.py start cassandra`` runs, in a
keyspace made for this test session and dropped after it. Every test uses fresh tenant
ids, so the cases can share that keyspace.
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import DefaultEndPoint
from cassandra.policies import RoundRobinPolicy

from kernel.errors import ConfigurationError, StoreUnavailable
from stores.cassandra import CassandraSession, default_connection_class
from stores.conversations.base import Conversation, ConversationStore, StoredMessage, StoredSummary
from stores.conversations.cassandra import CassandraConversationStore
from stores.conversations.sqlite import SQLiteConversationStore

CASSANDRA_HOST = "127.0.0.1"
CASSANDRA_PORT = int(os.environ.get("CHATSTREAM_CASSANDRA_PORT", "9042"))
T0 = datetime(2025, 3, 1, 12, 0, 0, 123457, tzinfo=UTC)  # microseconds must survive

StoreFactory = Callable[[], ConversationStore]


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cassandra_keyspace() -> Iterator[str]:
    """A keyspace for this session; the first store to start creates it."""
    keyspace = f"chatstream_test_{uuid.uuid4().hex[:12]}"
    yield keyspace
    cluster = Cluster(
        contact_points=[DefaultEndPoint(CASSANDRA_HOST, CASSANDRA_PORT)],
        execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(
            load_balancing_policy=RoundRobinPolicy())},
        connection_class=default_connection_class(), connect_timeout=5)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    except NoHostAvailable:
        pass  # unreachable all along: the failing tests already said so, nothing was made
    finally:
        cluster.shutdown()


@pytest.fixture(params=["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Builds an adapter that has not been started."""
    if request.param == "sqlite":
        return lambda: SQLiteConversationStore(tmp_path / "conversations.db")
    keyspace = request.getfixturevalue("cassandra_keyspace")
    return lambda: CassandraConversationStore(CassandraSession(
        [(CASSANDRA_HOST, CASSANDRA_PORT)], keyspace, request_timeout=20.0))


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[ConversationStore]:
    adapter = make_store()
    try:
        await adapter.start()
    except StoreUnavailable as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # failed outside the except block, so the report is this line alone
        pytest.fail(
            f"{type(adapter).__name__} could not start: {problem}. For Cassandra, run "
            f"`python3 deploy/local/services.py start cassandra` (port {CASSANDRA_PORT}, "
            "set by CHATSTREAM_CASSANDRA_PORT).", pytrace=False)
    try:
        yield adapter
    finally:
        await adapter.close()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def conversation(tenant: str, *, user: str = "user-1", at: datetime = T0,
                 title: str = "a title", id: str | None = None) -> Conversation:
    return Conversation(tenant_id=tenant, id=id or new_id("conv"), user_id=user,
                        title=title, created_at=at)


def message(conv: Conversation, *, role: Literal["user", "assistant"], at: datetime,
            request_id: str | None = None, **fields: Any) -> StoredMessage:
    return StoredMessage(
        tenant_id=conv.tenant_id, conversation_id=conv.id, id=new_id("msg"),
        request_id=request_id or new_id("req"), role=role, text=f"{role} at {at}",
        created_at=at, user_id=conv.user_id, **fields)


def turn(conv: Conversation, at: datetime) -> tuple[StoredMessage, StoredMessage]:
    """A question and its answer, both at ``at``."""
    asked = message(conv, role="user", at=at)
    answered = message(conv, role="assistant", at=at, request_id=asked.request_id,
                       model="local-echo", provider="local", prompt_tokens=7,
                       completion_tokens=3, finish_reason="stop")
    return asked, answered


# -- conversations ---------------------------------------------------------------------


async def test_ready_once_started(store: ConversationStore) -> None:
    ok, detail = await store.ready()
    assert ok, detail


async def test_absent_conversation_is_none(store: ConversationStore) -> None:
    assert await store.get_conversation(new_id("tenant"), new_id("conv")) is None


async def test_created_conversation_round_trips(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    await store.create_conversation(conv)
    assert await store.get_conversation(conv.tenant_id, conv.id) == conv


async def test_creating_again_keeps_the_first(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"), title="first")
    await store.create_conversation(conv)
    await store.create_conversation(
        conversation(conv.tenant_id, id=conv.id, title="second", at=T0 + timedelta(hours=1)))
    assert await store.get_conversation(conv.tenant_id, conv.id) == conv
    assert await store.list_conversations(conv.tenant_id, conv.user_id) == [conv]


async def test_conversations_are_listed_newest_first(store: ConversationStore) -> None:
    tenant = new_id("tenant")
    convs = [conversation(tenant, at=T0 + timedelta(minutes=i)) for i in range(4)]
    for conv in random.sample(convs, len(convs)):
        await store.create_conversation(conv)
    await store.create_conversation(conversation(tenant, user="someone-else"))

    assert await store.list_conversations(tenant, "user-1") == convs[::-1]
    assert await store.list_conversations(tenant, "user-1", limit=2) == convs[:1:-1]
    assert await store.list_conversations(tenant, "nobody") == []


async def test_tenants_do_not_see_each_other(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant-a"))
    await store.create_conversation(conv)
    asked, answered = turn(conv, T0)
    for m in (asked, answered):
        await store.save_message(m)
    await store.save_scores(conv.tenant_id, conv.id, answered.id, {"overall": 1.0})

    other = new_id("tenant-b")
    assert await store.get_conversation(other, conv.id) is None
    assert await store.list_conversations(other, conv.user_id) == []
    assert await store.list_messages(other, conv.id) == []
    assert await store.get_reply(other, asked.request_id) is None
    assert len(await store.list_messages(conv.tenant_id, conv.id)) == 2


# -- messages --------------------------------------------------------------------------


async def test_saving_a_message_twice_stores_it_once(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    asked = message(conv, role="user", at=T0)
    await store.save_message(asked)
    await store.save_message(asked)
    assert await store.list_messages(conv.tenant_id, conv.id) == [asked]


async def test_messages_are_the_last_n_oldest_first(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    messages = [message(conv, role=("user", "assistant")[i % 2], at=T0 + timedelta(seconds=i))
                for i in range(7)]
    for m in random.sample(messages, len(messages)):
        await store.save_message(m)

    assert await store.list_messages(conv.tenant_id, conv.id) == messages
    assert await store.list_messages(conv.tenant_id, conv.id, limit=3) == messages[-3:]
    assert await store.list_messages(conv.tenant_id, conv.id, limit=1) == messages[-1:]
    assert await store.list_messages(conv.tenant_id, new_id("conv")) == []


async def test_a_question_and_answer_at_one_instant_keep_their_order(
        store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    messages = [m for i in range(3) for m in turn(conv, T0 + timedelta(seconds=i))]
    for m in random.sample(messages, len(messages)):
        await store.save_message(m)

    assert await store.list_messages(conv.tenant_id, conv.id) == messages
    assert await store.list_messages(conv.tenant_id, conv.id, limit=3) == messages[-3:]


async def test_scores_arrive_before_or_after_the_message(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    early = message(conv, role="assistant", at=T0)
    late = message(conv, role="assistant", at=T0 + timedelta(seconds=1))
    plain = message(conv, role="user", at=T0 + timedelta(seconds=2))

    await store.save_scores(conv.tenant_id, conv.id, early.id, {"overall": 0.2})
    await store.save_message(early)
    await store.save_message(late)
    await store.save_message(plain)
    await store.save_scores(conv.tenant_id, conv.id, late.id, {"overall": 0.9, "flags": []})
    await store.save_scores(conv.tenant_id, conv.id, early.id, {"overall": 0.4})  # rescored

    listed = await store.list_messages(conv.tenant_id, conv.id)
    assert [m.scores for m in listed] == [{"overall": 0.4}, {"overall": 0.9, "flags": []}, None]


async def test_get_reply_finds_the_answer_to_a_request(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    asked = message(conv, role="user", at=T0)
    answered = message(
        conv, role="assistant", at=T0 + timedelta(milliseconds=1500),
        request_id=asked.request_id, model="local-echo", provider="local",
        prompt_tokens=12, completion_tokens=5, finish_reason="stop",
        citations=({"document_id": "doc-1", "title": "Doc", "chunk": 0},))
    unanswered = message(conv, role="user", at=T0 + timedelta(seconds=2))
    for m in (asked, answered, unanswered):
        await store.save_message(m)
    await store.save_scores(conv.tenant_id, conv.id, answered.id, {"overall": 0.7})

    reply = await store.get_reply(conv.tenant_id, asked.request_id)
    assert reply == replace(answered, scores={"overall": 0.7})
    assert await store.get_reply(conv.tenant_id, unanswered.request_id) is None
    assert await store.get_reply(conv.tenant_id, new_id("req")) is None


# -- summaries -------------------------------------------------------------------------


def summary(conv: Conversation, text: str, through: StoredMessage) -> StoredSummary:
    return StoredSummary(tenant_id=conv.tenant_id, conversation_id=conv.id, text=text,
                         through_message_id=through.id, through_at=through.created_at,
                         updated_at=T0 + timedelta(hours=1))


async def test_a_summary_round_trips_and_is_per_conversation(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    asked, _ = turn(conv, T0)
    assert await store.get_summary(conv.tenant_id, conv.id) is None
    saved = summary(conv, "The user likes teal.", asked)
    await store.save_summary(saved)
    assert await store.get_summary(conv.tenant_id, conv.id) == saved
    assert await store.get_summary(conv.tenant_id, new_id("conv")) is None
    assert await store.get_summary(new_id("tenant"), conv.id) is None


async def test_a_summary_reaching_further_wins_in_either_order(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    early, _ = turn(conv, T0)
    late, _ = turn(conv, T0 + timedelta(minutes=5))
    older = summary(conv, "through the first turn", early)
    newer = summary(conv, "through the second turn", late)

    await store.save_summary(older)
    await store.save_summary(newer)
    assert await store.get_summary(conv.tenant_id, conv.id) == newer

    await store.save_summary(older)  # a slow concurrent turn lands last: ignored
    assert await store.get_summary(conv.tenant_id, conv.id) == newer


async def test_calls_before_start_are_unavailable(make_store: StoreFactory) -> None:
    adapter = make_store()
    with pytest.raises(StoreUnavailable):
        await adapter.get_conversation(new_id("tenant"), new_id("conv"))


# -- Cassandra only: no server needed --------------------------------------------------


async def test_unreachable_cassandra_is_store_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = CassandraConversationStore(
        CassandraSession([("127.0.0.1", port)], "unused", connect_timeout=1.0))
    with pytest.raises(StoreUnavailable) as caught:
        await adapter.start()
    assert isinstance(caught.value.__cause__, NoHostAvailable)
    ok, _ = await adapter.ready()
    assert not ok
    await adapter.close()


@pytest.mark.parametrize(("url", "hosts", "keyspace"), [
    ("cassandra://db/chat", [("db", 9042)], "chat"),
    ("cassandra://a:9142,b/chat", [("a", 9142), ("b", 9042)], "chat"),
    ("cassandra://[::1]:9043/chat_2", [("::1", 9043)], "chat_2"),
])
def test_from_url(url: str, hosts: list[tuple[str, int]], keyspace: str) -> None:
    adapter = CassandraConversationStore.from_url(url)
    assert adapter.session.hosts == tuple(hosts)
    assert adapter.session.keyspace == keyspace


@pytest.mark.parametrize("url", [
    "sqlite:///x.db", "cassandra://db", "cassandra://db/bad-name", "cassandra://db:port/ks",
])
def test_from_url_rejects(url: str) -> None:
    with pytest.raises(ConfigurationError):
        CassandraConversationStore.from_url(url)



async def test_deleting_a_conversation_removes_it_only_in_its_tenant(
        store: ConversationStore) -> None:
    conv = conversation(new_id("tenant-a"))
    await store.create_conversation(conv)
    asked, answered = turn(conv, T0)
    for m in (asked, answered):
        await store.save_message(m)
    assert not await store.delete_conversation(new_id("tenant-b"), conv.id)
    assert await store.get_conversation(conv.tenant_id, conv.id) is not None
    assert await store.delete_conversation(conv.tenant_id, conv.id)
    assert await store.get_conversation(conv.tenant_id, conv.id) is None
    assert await store.list_conversations(conv.tenant_id, conv.user_id) == []
    assert await store.list_messages(conv.tenant_id, conv.id) == []
    assert await store.get_reply(conv.tenant_id, asked.request_id) is None
    assert not await store.delete_conversation(conv.tenant_id, conv.id)


async def test_an_answers_tool_calls_are_kept(store: ConversationStore) -> None:
    conv = conversation("tenant-tools")
    await store.create_conversation(conv)
    calls = ({"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}',
              "result": None},)
    answered = message(conv, role="assistant", at=T0, tool_calls=calls,
                       finish_reason="tool_calls")
    await store.save_message(answered)
    [found] = await store.list_messages(conv.tenant_id, conv.id)
    assert found.tool_calls == calls
    reply = await store.get_reply(conv.tenant_id, answered.request_id)
    assert reply is not None and reply.tool_calls == calls


async def test_a_sqlite_database_from_before_tool_calls_gets_the_column(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the messages table as it was made before
        db.execute("CREATE TABLE messages (tenant_id TEXT NOT NULL, conversation_id TEXT "
                   "NOT NULL, id TEXT NOT NULL, request_id TEXT NOT NULL, role TEXT NOT "
                   "NULL, text TEXT NOT NULL, created_at TEXT NOT NULL, user_id TEXT NOT "
                   "NULL, model TEXT, provider TEXT, prompt_tokens INTEGER NOT NULL DEFAULT "
                   "0, completion_tokens INTEGER NOT NULL DEFAULT 0, finish_reason TEXT, "
                   "citations TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (tenant_id, "
                   "conversation_id, id))")
    db.close()
    store = SQLiteConversationStore(path)
    await store.start()
    try:
        conv = conversation("tenant-old")
        await store.create_conversation(conv)
        await store.save_message(message(conv, role="user", at=T0))
        [found] = await store.list_messages(conv.tenant_id, conv.id)
        assert found.tool_calls == ()
    finally:
        await store.close()


# -- branches, settings, titles, search ------------------------------------------------


async def test_parents_and_timings_round_trip(store: ConversationStore) -> None:
    conv = conversation(new_id("tenant"))
    await store.create_conversation(conv)
    first = message(conv, role="user", at=T0, parent_id="")
    answer = message(conv, role="assistant", at=T0, request_id=first.request_id,
                     parent_id=first.id, ttft_ms=120.5, duration_ms=900.25)
    legacy = message(conv, role="user", at=T0 + timedelta(seconds=1))
    for m in (first, answer, legacy):
        await store.save_message(m)
    found = await store.list_messages(conv.tenant_id, conv.id)
    assert [(m.id, m.parent_id) for m in found] == [
        (first.id, ""), (answer.id, first.id), (legacy.id, None)]
    assert (found[1].ttft_ms, found[1].duration_ms) == (120.5, 900.25)
    reply = await store.get_reply(conv.tenant_id, first.request_id)
    assert reply is not None and reply.parent_id == first.id


async def test_settings_and_title_change_and_lists_follow(store: ConversationStore) -> None:
    tenant = new_id("tenant")
    conv = replace(conversation(tenant, title="New conversation"),
                   settings={"system_prompt": "Answer in French.", "temperature": 0.2})
    await store.create_conversation(conv)
    assert await store.get_conversation(tenant, conv.id) == conv
    changed = await store.update_conversation(tenant, conv.id, title="Trip to Skarholm")
    assert changed is not None and changed.title == "Trip to Skarholm"
    assert changed.settings == conv.settings  # left as they were
    changed = await store.update_conversation(tenant, conv.id, settings={"model": "m"})
    assert changed is not None and changed.settings == {"model": "m"}
    assert (await store.get_conversation(tenant, conv.id)) == changed
    [listed] = await store.list_conversations(tenant, conv.user_id)
    assert listed.title == "Trip to Skarholm"
    assert await store.update_conversation(tenant, new_id("conv"), title="x") is None
    assert await store.update_conversation(new_id("tenant"), conv.id, title="x") is None


async def test_a_model_title_never_replaces_a_chosen_one(store: ConversationStore) -> None:
    tenant = new_id("tenant")
    conv = conversation(tenant, title="New conversation")
    await store.create_conversation(conv)
    assert await store.retitle(tenant, conv.id, "Ferry times", only_if="New conversation")
    assert not await store.retitle(tenant, conv.id, "Other", only_if="New conversation")
    await store.update_conversation(tenant, conv.id, title="Mine")
    assert not await store.retitle(tenant, conv.id, "Model's", only_if="New conversation")
    [listed] = await store.list_conversations(tenant, conv.user_id)
    assert listed.title == "Mine"
    assert not await store.retitle(tenant, new_id("conv"), "x", only_if="New conversation")


@pytest.fixture
async def cassandra_store(cassandra_keyspace: str) -> AsyncIterator[CassandraConversationStore]:
    """The Cassandra adapter alone, for what only its two-table layout can get wrong."""
    store = CassandraConversationStore(CassandraSession(
        [(CASSANDRA_HOST, CASSANDRA_PORT)], cassandra_keyspace, request_timeout=20.0))
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.cassandra
async def test_a_rename_racing_a_model_title_is_what_the_list_shows(
        cassandra_store: CassandraConversationStore) -> None:
    """Cassandra keeps the title twice (the conversation's row, the user's list): a
    rename landing between a model title's two writes must win in both."""
    store = cassandra_store
    tenant = new_id("tenant")
    conv = conversation(tenant, title="New conversation")
    await store.create_conversation(conv)
    execute = store._execute
    renamed = []

    async def rename_in_between(statement: Any, params: Any = None) -> Any:
        list_write = statement is store._prepared().update_title_by_user
        if list_write and params[0] == "Ferry departures" and not renamed:
            renamed.append(await store.update_conversation(tenant, conv.id,
                                                           title="Ferry times"))
        return await execute(statement, params)

    store._execute = rename_in_between  # type: ignore[method-assign]
    assert await store.retitle(tenant, conv.id, "Ferry departures",
                               only_if="New conversation")
    assert renamed and renamed[0] is not None
    store._execute = execute  # type: ignore[method-assign]
    assert (await store.get_conversation(tenant, conv.id)).title == "Ferry times"
    [listed] = await store.list_conversations(tenant, conv.user_id)
    assert listed.title == "Ferry times"


async def test_search_finds_titles_and_messages_of_the_user_only(
        store: ConversationStore) -> None:
    tenant = new_id("tenant")
    by_title = conversation(tenant, title="Ferry to ÆRØ", at=T0)
    by_text = conversation(tenant, title="Packing", at=T0 + timedelta(minutes=1))
    unrelated = conversation(tenant, title="Lunch", at=T0 + timedelta(minutes=2))
    colleague = conversation(tenant, user="user-2", title="ferry for them",
                             at=T0 + timedelta(minutes=3))
    elsewhere = conversation(new_id("tenant"), title="ferry elsewhere")
    for c in (by_title, by_text, unrelated, colleague, elsewhere):
        await store.create_conversation(c)
    old = replace(message(by_text, role="user", at=T0 + timedelta(minutes=1)),
                  text="Book the FERRY tickets")
    new = replace(message(by_text, role="assistant", at=T0 + timedelta(minutes=2)),
                  text="The ferry leaves at seven.")
    await store.save_message(old)
    await store.save_message(new)
    await store.save_message(replace(message(colleague, role="user", at=T0),
                                     text="ferry"))
    outcome = await store.search(tenant, "user-1", "ferry", 10)
    assert [(f.conversation.id, f.message.id if f.message else None)
            for f in outcome.found] == [(by_text.id, new.id), (by_title.id, None)]
    assert outcome.complete and outcome.searched == 3
    assert [f.conversation.id for f in (await store.search(tenant, "user-1", "ærø", 10)).found
            ] == [by_title.id]
    assert (await store.search(tenant, "user-1", "ferry", 1)).found[0].conversation.id == \
        by_text.id
    assert (await store.search(tenant, "user-1", "nowhere", 10)).found == []


@pytest.mark.cassandra
async def test_cassandra_search_says_when_it_looked_at_the_newest_only(
        cassandra_store: CassandraConversationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite searches everything; Cassandra scans a bounded window and says so."""
    from stores.conversations import cassandra

    store = cassandra_store

    monkeypatch.setattr(cassandra, "SEARCH_CONVERSATIONS", 2)
    tenant = new_id("tenant")
    made = [conversation(tenant, title=f"c{i}", at=T0 + timedelta(minutes=i))
            for i in range(3)]
    for c in made:
        await store.create_conversation(c)
        await store.save_message(replace(message(c, role="user", at=c.created_at),
                                         text="the ferry"))
    outcome = await store.search(tenant, "user-1", "ferry", 10)
    assert (outcome.complete, outcome.searched) == (False, 2)
    assert [f.conversation.id for f in outcome.found] == [made[2].id, made[1].id]
