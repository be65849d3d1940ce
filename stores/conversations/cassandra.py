"""Cassandra conversation store: the production adapter of ``ConversationStore``.

Each read is served by one partition of a table shaped for it; tenant_id is in every
partition key. Connections are the shared :class:`stores.cassandra.CassandraSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cassandra import InvalidRequest
from cassandra.query import BatchStatement, BatchType

from kernel.errors import StoreUnavailable
from stores.cassandra import CassandraSession
from stores.conversations.base import (
    Conversation,
    Found,
    SearchOutcome,
    StoredMessage,
    StoredSummary,
)
from stores.conversations.batching import PartitionBatcher
from stores.timestamps import from_us, to_us

__all__ = ("CassandraConversationStore",)


# Times are bigint microseconds since the epoch, not `timestamp`: CQL timestamps keep
# milliseconds only, which would change created_at on the way back and could misorder
# two messages written within the same millisecond.
_TABLES = (
    """CREATE TABLE IF NOT EXISTS conversations (
        tenant_id text, conversation_id text, user_id text, title text, created_us bigint,
        PRIMARY KEY ((tenant_id, conversation_id)))""",
    """CREATE TABLE IF NOT EXISTS conversations_by_user (
        tenant_id text, user_id text, created_us bigint, conversation_id text, title text,
        PRIMARY KEY ((tenant_id, user_id), created_us, conversation_id))
        WITH CLUSTERING ORDER BY (created_us DESC, conversation_id ASC)""",
    # Newest first, so "the last N" is a forward slice of the partition. At the same
    # instant 'assistant' < 'user' puts a reply after its question once reversed.
    """CREATE TABLE IF NOT EXISTS messages_by_conversation (
        tenant_id text, conversation_id text, created_us bigint, role text, message_id text,
        request_id text, user_id text, text text, model text, provider text,
        prompt_tokens int, completion_tokens int, finish_reason text, citations text,
        tool_calls text,
        PRIMARY KEY ((tenant_id, conversation_id), created_us, role, message_id))
        WITH CLUSTERING ORDER BY (created_us DESC, role ASC, message_id DESC)""",
    """CREATE TABLE IF NOT EXISTS messages_by_request (
        tenant_id text, conversation_id text, request_id text, role text, message_id text,
        created_us bigint, user_id text, text text, model text, provider text,
        prompt_tokens int, completion_tokens int, finish_reason text, citations text,
        tool_calls text,
        PRIMARY KEY ((tenant_id, request_id), role, message_id))""",
    """CREATE TABLE IF NOT EXISTS scores_by_conversation (
        tenant_id text, conversation_id text, message_id text, scores text,
        PRIMARY KEY ((tenant_id, conversation_id), message_id))""",
    """CREATE TABLE IF NOT EXISTS summaries_by_conversation (
        tenant_id text, conversation_id text, text text, through_message_id text,
        through_us bigint, updated_us bigint,
        PRIMARY KEY ((tenant_id, conversation_id)))""",
)

_DELETES = {
    "requests": "SELECT request_id FROM messages_by_conversation WHERE tenant_id = ? AND "
                "conversation_id = ?",
    "by_request": "DELETE FROM messages_by_request WHERE tenant_id = ? AND request_id = ?",
    "messages": "DELETE FROM messages_by_conversation WHERE tenant_id = ? AND "
                "conversation_id = ?",
    "scores": "DELETE FROM scores_by_conversation WHERE tenant_id = ? AND conversation_id = ?",
    "summary": "DELETE FROM summaries_by_conversation WHERE tenant_id = ? AND "
               "conversation_id = ?",
    "by_user": "DELETE FROM conversations_by_user WHERE tenant_id = ? AND user_id = ? AND "
               "created_us = ? AND conversation_id = ?",
    "conversation": "DELETE FROM conversations WHERE tenant_id = ? AND conversation_id = ?",
}

_MESSAGE_COLUMNS = (
    "tenant_id, conversation_id, created_us, role, message_id, request_id, user_id, text, "
    "model, provider, prompt_tokens, completion_tokens, finish_reason, citations, tool_calls, "
    "parent_id, ttft_ms, duration_ms"
)
# Columns added since the first schema: keyspaces made before them get them.
_ADDED = {
    "messages_by_conversation": ("tool_calls text", "parent_id text", "ttft_ms double",
                                 "duration_ms double"),
    "messages_by_request": ("tool_calls text", "parent_id text", "ttft_ms double",
                            "duration_ms double"),
    "conversations": ("settings text",),
}
# How far a search looks, Cassandra having no text index: the titles of the user's newest
# SEARCH_TITLES conversations, and the newest SEARCH_MESSAGES messages of each of the
# newest SEARCH_CONVERSATIONS of them, read SEARCH_READS partitions at a time.
SEARCH_TITLES = 200
SEARCH_CONVERSATIONS = 50
SEARCH_MESSAGES = 200
SEARCH_READS = 8
_MESSAGE_MARKERS = ", ".join("?" * len(_MESSAGE_COLUMNS.split(",")))


@dataclass(frozen=True, slots=True)
class _Statements:
    insert_conversation: Any
    insert_conversation_by_user: Any
    open_conversation: Any
    open_conversation_by_user: Any
    select_conversation: Any
    select_conversations_by_user: Any
    update_conversation: Any
    update_title_by_user: Any
    retitle: Any
    insert_message: Any
    insert_message_by_request: Any
    select_messages: Any
    select_reply: Any
    upsert_scores: Any
    select_scores: Any
    upsert_summary: Any
    select_summary: Any

    @classmethod
    async def prepare(cls, session: CassandraSession) -> _Statements:
        prep = session.prepare
        return cls(
            # No lightweight transaction (a Paxos round per message, #16.3): see
            # create_conversation for why a read before the write is enough.
            insert_conversation=await prep(
                "INSERT INTO conversations (tenant_id, conversation_id, user_id, title, "
                "created_us, settings) VALUES (?, ?, ?, ?, ?, ?)"),
            insert_conversation_by_user=await prep(
                "INSERT INTO conversations_by_user (tenant_id, user_id, created_us, "
                "conversation_id, title) VALUES (?, ?, ?, ?, ?)"),
            # A conversation its event opened, written at the event's time (before the
            # writer's clock, which a plain insert takes): any later write to it (a
            # rename, a model's title, settings, its deletion) is newer and wins,
            # whichever lands first, so a redelivery changes nothing.
            open_conversation=await prep(
                "INSERT INTO conversations (tenant_id, conversation_id, user_id, title, "
                "created_us, settings) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"),
            open_conversation_by_user=await prep(
                "INSERT INTO conversations_by_user (tenant_id, user_id, created_us, "
                "conversation_id, title) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"),
            select_conversation=await prep(
                "SELECT tenant_id, conversation_id, user_id, title, created_us, settings "
                "FROM conversations WHERE tenant_id = ? AND conversation_id = ?"),
            # Conditional, so an update racing a delete never brings a row back (a
            # plain UPDATE writes the row it names).
            update_conversation=await prep(
                "UPDATE conversations SET title = ?, settings = ? WHERE tenant_id = ? AND "
                "conversation_id = ? IF EXISTS", idempotent=False),
            update_title_by_user=await prep(
                "UPDATE conversations_by_user SET title = ? WHERE tenant_id = ? AND "
                "user_id = ? AND created_us = ? AND conversation_id = ? IF EXISTS",
                idempotent=False),
            retitle=await prep(
                "UPDATE conversations SET title = ? WHERE tenant_id = ? AND "
                "conversation_id = ? IF title = ?", idempotent=False),
            select_conversations_by_user=await prep(
                "SELECT tenant_id, conversation_id, user_id, title, created_us "
                "FROM conversations_by_user WHERE tenant_id = ? AND user_id = ? LIMIT ?"),
            # Idempotent without a condition: the whole key comes from the message, so
            # saving it again overwrites the row with the same values.
            insert_message=await prep(
                f"INSERT INTO messages_by_conversation ({_MESSAGE_COLUMNS}) "
                f"VALUES ({_MESSAGE_MARKERS})"),
            insert_message_by_request=await prep(
                f"INSERT INTO messages_by_request ({_MESSAGE_COLUMNS}) "
                f"VALUES ({_MESSAGE_MARKERS})"),
            select_messages=await prep(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages_by_conversation "
                "WHERE tenant_id = ? AND conversation_id = ? LIMIT ?"),
            select_reply=await prep(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages_by_request "
                "WHERE tenant_id = ? AND request_id = ? AND role = 'assistant' LIMIT 1"),
            upsert_scores=await prep(
                "INSERT INTO scores_by_conversation (tenant_id, conversation_id, message_id, "
                "scores) VALUES (?, ?, ?, ?)"),
            select_scores=await prep(
                "SELECT message_id, scores FROM scores_by_conversation "
                "WHERE tenant_id = ? AND conversation_id = ? AND message_id IN ?"),
            # The write timestamp is the summarised message's time, so the summary that
            # reaches furthest wins whatever order concurrent writes land in, with no
            # lightweight transaction. Nothing else writes this table.
            upsert_summary=await prep(
                "INSERT INTO summaries_by_conversation (tenant_id, conversation_id, text, "
                "through_message_id, through_us, updated_us) VALUES (?, ?, ?, ?, ?, ?) "
                "USING TIMESTAMP ?"),
            select_summary=await prep(
                "SELECT text, through_message_id, through_us, updated_us "
                "FROM summaries_by_conversation WHERE tenant_id = ? AND conversation_id = ?"),
        )


class CassandraConversationStore:
    """Satisfies ``ConversationStore``; nothing connects before :meth:`start`. It owns its
    session: the sibling stores of the keyspace share it (:attr:`session`) and close
    before it does."""

    def __init__(self, session: CassandraSession, *, batch_writes: bool = True) -> None:
        self._session = session
        self._statements: _Statements | None = None
        self._deletes: dict[str, Any] = {}
        self._batcher = PartitionBatcher(self._execute, enabled=batch_writes)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> CassandraConversationStore:
        """``cassandra://[user:password@]host[:port][,host2[:port]]/keyspace``."""
        return cls(CassandraSession.from_url(url, **options))

    @property
    def session(self) -> CassandraSession:
        return self._session

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._statements is not None:
            return
        await self._session.start()
        for ddl in _TABLES:
            await self._session.execute(ddl)
        await self._add_columns()
        self._statements = await _Statements.prepare(self._session)

    async def _add_columns(self) -> None:
        for table, columns in _ADDED.items():
            for column in columns:
                # Cassandra has no ADD IF NOT EXISTS: a column already there is refused.
                with contextlib.suppress(InvalidRequest):
                    await self._session.execute(f"ALTER TABLE {table} ADD {column}")

    async def close(self) -> None:
        self._statements = None
        await self._session.close()

    async def ready(self) -> tuple[bool, str]:
        return await self._session.ready()

    # -- conversations ---------------------------------------------------------------

    async def create_conversation(self, conversation: Conversation, *,
                                  opened: bool = False) -> None:
        """Insert if absent, without a lightweight transaction: every id is a fresh uuid
        whose row is written by one creator (the edge for ``POST /v1/conversations``,
        or persistence for the one message of a chat-completions or batch conversation,
        whose redeliveries carry the same values), so no two writers race with
        different values; the read only keeps an existing row (its title) as it is.
        An ``opened`` conversation needs no read: its rows are written at its creation
        time, older than any other write to them (see ``open_conversation``)."""
        c, st = conversation, self._prepared()
        key = (c.tenant_id, c.id)
        if not opened and await self._execute(st.select_conversation, key):
            return
        created = to_us(c.created_at)
        by_user = (c.tenant_id, c.user_id, created, c.id, c.title)
        row = (*key, c.user_id, c.title, created,
               json.dumps(c.settings) if c.settings else None)
        # Both rows in one request: an UNLOGGED batch (no batch log); should it land only
        # in part, the row is absent still and the retry writes both again.
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        if opened:
            batch.add(st.open_conversation_by_user, (*by_user, created))
            batch.add(st.open_conversation, (*row, created))
        else:
            batch.add(st.insert_conversation_by_user, by_user)
            batch.add(st.insert_conversation, row)
        batch.is_idempotent = True
        await self._execute(batch)

    async def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        rows = await self._execute(
            self._prepared().select_conversation, (tenant_id, conversation_id))
        return _conversation(rows[0]) if rows else None

    async def list_conversations(self, tenant_id: str, user_id: str,
                                 limit: int = 50) -> list[Conversation]:
        if limit <= 0:  # CQL rejects LIMIT 0
            return []
        rows = await self._execute(
            self._prepared().select_conversations_by_user, (tenant_id, user_id, limit))
        return [_conversation(r) for r in rows]

    async def update_conversation(self, tenant_id: str, conversation_id: str, *,
                                  title: str | None = None,
                                  settings: dict[str, Any] | None = None,
                                  ) -> Conversation | None:
        st, key = self._prepared(), (tenant_id, conversation_id)
        rows = await self._execute(st.select_conversation, key)
        if not rows:
            return None
        row = rows[0]
        new_title = title if title is not None else row["title"]
        new_settings = json.dumps(settings) if settings is not None else row["settings"]
        applied = await self._execute(st.update_conversation, (new_title, new_settings, *key))
        if not (applied and applied[0]["[applied]"]):
            return None  # deleted meanwhile
        if new_title != row["title"]:
            await self._list_title(row, new_title)
        return _conversation({**row, "title": new_title, "settings": new_settings})

    async def retitle(self, tenant_id: str, conversation_id: str, title: str, *,
                      only_if: str) -> bool:
        st, key = self._prepared(), (tenant_id, conversation_id)
        applied = await self._execute(st.retitle, (title, *key, only_if))
        if not (applied and applied[0]["[applied]"]):
            return False
        rows = await self._execute(st.select_conversation, key)
        if rows:
            await self._list_title(rows[0], title)
        return True

    async def _list_title(self, row: dict[str, Any], title: str) -> None:
        """The title in the user's list (a second table) after it changed in the
        conversation's row. A rename and a model's title racing could write the list in
        the other order than the row (each path writes the row, then the list); so after
        writing, the row is read again and the list follows it when they differ: whichever
        path writes the list last has read the row's final title."""
        st = self._prepared()
        key = (row["tenant_id"], row["conversation_id"])
        for _ in range(2):
            await self._execute(st.update_title_by_user, (
                title, row["tenant_id"], row["user_id"], row["created_us"],
                row["conversation_id"]))
            now = await self._execute(st.select_conversation, key)
            if not now:  # deleted meanwhile: the write above must not leave it listed
                await self._execute((await self._delete_statements())["by_user"], (
                    row["tenant_id"], row["user_id"], row["created_us"],
                    row["conversation_id"]))
                return
            if now[0]["title"] == title:
                return
            title = now[0]["title"]

    async def _delete_statements(self) -> dict[str, Any]:
        if not self._deletes:
            for name, cql in _DELETES.items():
                self._deletes[name] = await self._session.prepare(cql)
        return self._deletes

    async def search(self, tenant_id: str, user_id: str, query: str,
                     limit: int) -> SearchOutcome:
        """A bounded scan (Cassandra has no text index): the titles of the user's newest
        SEARCH_TITLES conversations and the newest SEARCH_MESSAGES messages of each of
        the newest SEARCH_CONVERSATIONS. ``complete`` says whether that was everything."""
        needle = query.casefold()
        listed = await self.list_conversations(tenant_id, user_id, SEARCH_TITLES + 1)
        more = len(listed) > SEARCH_TITLES
        listed = listed[:SEARCH_TITLES]
        found: dict[str, Found] = {c.id: Found(c) for c in listed
                                   if needle in c.title.casefold()}
        scanned = listed[:SEARCH_CONVERSATIONS]
        gate = asyncio.Semaphore(SEARCH_READS)
        cut = False

        async def scan(c: Conversation) -> None:
            nonlocal cut
            async with gate:
                messages = await self.list_messages(tenant_id, c.id, SEARCH_MESSAGES)
            cut = cut or len(messages) >= SEARCH_MESSAGES
            for m in reversed(messages):  # the newest match
                if needle in m.text.casefold():
                    found.setdefault(c.id, Found(c, m))
                    return

        await asyncio.gather(*(scan(c) for c in scanned if c.id not in found))
        complete = not more and not cut and len(listed) <= SEARCH_CONVERSATIONS
        ranked = [found[c.id] for c in listed if c.id in found]
        return SearchOutcome(ranked[:limit], complete=complete, searched=len(scanned))

    async def delete_conversation(self, tenant_id: str, conversation_id: str) -> bool:
        found = await self._execute(self._prepared().select_conversation,
                                    (tenant_id, conversation_id))
        if not found:
            return False
        row, key = found[0], (tenant_id, conversation_id)
        d = await self._delete_statements()
        requests = await self._execute(d["requests"], key)
        for request_id in {r["request_id"] for r in requests}:
            await self._execute(d["by_request"], (tenant_id, request_id))
        for name in ("messages", "scores", "summary"):
            await self._execute(d[name], key)
        await self._execute(d["by_user"], (tenant_id, row["user_id"], row["created_us"],
                                           conversation_id))
        await self._execute(d["conversation"], key)
        return True

    # -- messages --------------------------------------------------------------------

    async def save_message(self, message: StoredMessage) -> None:
        m, st = message, self._prepared()
        values = (
            m.tenant_id, m.conversation_id, to_us(m.created_at), m.role, m.id, m.request_id,
            m.user_id, m.text, m.model, m.provider, m.prompt_tokens, m.completion_tokens,
            m.finish_reason, json.dumps(list(m.citations)), json.dumps(list(m.tool_calls)),
            m.parent_id, m.ttft_ms, m.duration_ms,
        )
        # Two single-partition writes side by side, not a logged batch (whose batch log
        # costs Cassandra two more writes per message): each is idempotent (the whole key
        # comes from the message), and the event is retried until both have landed. The
        # conversation's row joins other writes to that partition in flight (one batch).
        await asyncio.gather(
            self._batcher.write(("messages", m.tenant_id, m.conversation_id),
                                st.insert_message, values),
            self._execute(st.insert_message_by_request, values))

    async def save_scores(self, tenant_id: str, conversation_id: str, message_id: str,
                          scores: dict[str, Any]) -> None:
        await self._batcher.write(("scores", tenant_id, conversation_id),
                                  self._prepared().upsert_scores,
                                  (tenant_id, conversation_id, message_id, json.dumps(scores)))

    async def list_messages(self, tenant_id: str, conversation_id: str,
                            limit: int = 100) -> list[StoredMessage]:
        if limit <= 0:
            return []
        rows = await self._execute(
            self._prepared().select_messages, (tenant_id, conversation_id, limit))
        rows.reverse()  # stored newest first; returned oldest first
        scores = await self._scores(tenant_id, conversation_id, [r["message_id"] for r in rows])
        return [_message(r, scores.get(r["message_id"])) for r in rows]

    async def get_reply(self, tenant_id: str, request_id: str) -> StoredMessage | None:
        rows = await self._execute(self._prepared().select_reply, (tenant_id, request_id))
        if not rows:
            return None
        row = rows[0]
        scores = await self._scores(tenant_id, row["conversation_id"], [row["message_id"]])
        return _message(row, scores.get(row["message_id"]))

    async def _scores(self, tenant_id: str, conversation_id: str,
                      message_ids: list[str]) -> dict[str, str]:
        if not message_ids:
            return {}
        rows = await self._execute(
            self._prepared().select_scores, (tenant_id, conversation_id, message_ids))
        return {r["message_id"]: r["scores"] for r in rows}

    # -- summaries -------------------------------------------------------------------

    async def get_summary(self, tenant_id: str, conversation_id: str) -> StoredSummary | None:
        rows = await self._execute(
            self._prepared().select_summary, (tenant_id, conversation_id))
        if not rows:
            return None
        r = rows[0]
        return StoredSummary(tenant_id, conversation_id, r["text"], r["through_message_id"],
                             from_us(r["through_us"]), from_us(r["updated_us"]))

    async def save_summary(self, summary: StoredSummary) -> None:
        s, through = summary, to_us(summary.through_at)
        await self._execute(self._prepared().upsert_summary, (
            s.tenant_id, s.conversation_id, s.text, s.through_message_id, through,
            to_us(s.updated_at), through))

    # -- statements ----------------------------------------------------------------

    def _prepared(self) -> _Statements:
        if self._statements is None:
            raise StoreUnavailable("cassandra store is not started")
        return self._statements

    async def _execute(self, statement: Any, params: Sequence[Any] | None = None,
                       ) -> list[dict[str, Any]]:
        return await self._session.execute(statement, params)


def _conversation(row: dict[str, Any]) -> Conversation:
    settings = row.get("settings")
    return Conversation(
        tenant_id=row["tenant_id"], id=row["conversation_id"], user_id=row["user_id"],
        title=row["title"], created_at=from_us(row["created_us"]),
        settings=json.loads(settings) if settings else None,
    )


def _message(row: dict[str, Any], scores: str | None) -> StoredMessage:
    return StoredMessage(
        tenant_id=row["tenant_id"], conversation_id=row["conversation_id"],
        id=row["message_id"], request_id=row["request_id"], role=row["role"],
        text=row["text"], created_at=from_us(row["created_us"]), user_id=row["user_id"],
        model=row["model"], provider=row["provider"],
        prompt_tokens=row["prompt_tokens"] or 0,
        completion_tokens=row["completion_tokens"] or 0,
        finish_reason=row["finish_reason"], citations=tuple(json.loads(row["citations"])),
        tool_calls=tuple(json.loads(row.get("tool_calls") or "[]")),
        parent_id=row.get("parent_id"), ttft_ms=row.get("ttft_ms"),
        duration_ms=row.get("duration_ms"),
        scores=json.loads(scores) if scores else None,
    )
