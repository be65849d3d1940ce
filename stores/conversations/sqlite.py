"""SQLite conversation store: the embedded default. One connection on one thread."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from stores.conversations.base import (
    Conversation,
    Found,
    SearchOutcome,
    StoredMessage,
    StoredSummary,
)
from stores.sqlite_thread import SQLiteThread
from stores.timestamps import from_us, to_us

__all__ = ("SQLiteConversationStore",)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    tenant_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL,
    title TEXT NOT NULL, created_at TEXT NOT NULL, settings TEXT,
    PRIMARY KEY (tenant_id, id));
CREATE INDEX IF NOT EXISTS conversations_by_user
    ON conversations (tenant_id, user_id, created_at DESC);
CREATE TABLE IF NOT EXISTS messages (
    tenant_id TEXT NOT NULL, conversation_id TEXT NOT NULL, id TEXT NOT NULL,
    request_id TEXT NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL,
    created_at TEXT NOT NULL, user_id TEXT NOT NULL, model TEXT, provider TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    finish_reason TEXT, citations TEXT NOT NULL DEFAULT '[]',
    tool_calls TEXT NOT NULL DEFAULT '[]', parent_id TEXT, ttft_ms REAL, duration_ms REAL,
    PRIMARY KEY (tenant_id, conversation_id, id));
CREATE INDEX IF NOT EXISTS messages_in_order
    ON messages (tenant_id, conversation_id, created_at);
CREATE INDEX IF NOT EXISTS messages_by_request ON messages (tenant_id, request_id, role);
CREATE TABLE IF NOT EXISTS scores (
    tenant_id TEXT NOT NULL, conversation_id TEXT NOT NULL, message_id TEXT NOT NULL,
    scores TEXT NOT NULL, PRIMARY KEY (tenant_id, conversation_id, message_id));
CREATE TABLE IF NOT EXISTS summaries (
    tenant_id TEXT NOT NULL, conversation_id TEXT NOT NULL, text TEXT NOT NULL,
    through_message_id TEXT NOT NULL, through_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL, PRIMARY KEY (tenant_id, conversation_id));
"""


class SQLiteConversationStore:
    def __init__(self, path: Path) -> None:
        self._db = SQLiteThread(path, _SCHEMA, name="sqlite store", thread_name="sqlite")

    @property
    def path(self) -> Path:
        return self._db.path

    @classmethod
    def from_url(cls, url: str) -> SQLiteConversationStore:
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them.
        return cls(Path(url.removeprefix("sqlite:///")))

    async def start(self) -> None:
        await self._db.start()
        await self._db.run(_add_columns)

    async def close(self) -> None:
        await self._db.close()

    async def ready(self) -> tuple[bool, str]:
        return await self._db.ready(f"sqlite {self.path}")

    async def create_conversation(self, conversation: Conversation, *,
                                  opened: bool = False) -> None:
        c = conversation  # one local statement either way
        await self._db.run(lambda db: db.execute(
            "INSERT OR IGNORE INTO conversations (tenant_id, id, user_id, title, created_at, "
            "settings) VALUES (?,?,?,?,?,?)",
            (c.tenant_id, c.id, c.user_id, c.title, c.created_at.isoformat(),
             json.dumps(c.settings) if c.settings is not None else None)))

    async def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        row = await self._db.run(lambda db: db.execute(
            "SELECT tenant_id, id, user_id, title, created_at, settings FROM conversations "
            "WHERE tenant_id=? AND id=?", (tenant_id, conversation_id)).fetchone())
        return _conversation(row) if row else None

    async def update_conversation(self, tenant_id: str, conversation_id: str, *,
                                  title: str | None = None,
                                  settings: dict[str, Any] | None = None,
                                  ) -> Conversation | None:
        def run(db: sqlite3.Connection) -> Any:
            db.execute(
                "UPDATE conversations SET title=coalesce(?, title), "
                "settings=CASE WHEN ? THEN ? ELSE settings END WHERE tenant_id=? AND id=?",
                (title, settings is not None, json.dumps(settings), tenant_id,
                 conversation_id))
            return db.execute(
                "SELECT tenant_id, id, user_id, title, created_at, settings FROM "
                "conversations WHERE tenant_id=? AND id=?",
                (tenant_id, conversation_id)).fetchone()
        row = await self._db.run(run)
        return _conversation(row) if row else None

    async def retitle(self, tenant_id: str, conversation_id: str, title: str, *,
                      only_if: str) -> bool:
        changed = await self._db.run(lambda db: db.execute(
            "UPDATE conversations SET title=? WHERE tenant_id=? AND id=? AND title=?",
            (title, tenant_id, conversation_id, only_if)).rowcount)
        return bool(changed)

    async def search(self, tenant_id: str, user_id: str, query: str,
                     limit: int) -> SearchOutcome:
        """Every conversation of the user is searched: titles and the text of every
        message, compared case folded (a scan of the user's rows, fine at the sizes the
        embedded store serves)."""
        needle = query.casefold()

        def run(db: sqlite3.Connection) -> tuple[list[Any], list[Any], int]:
            db.create_function("casefold", 1, _casefold, deterministic=True)
            key = (tenant_id, user_id)
            by_title = db.execute(
                "SELECT tenant_id, id, user_id, title, created_at, NULL FROM conversations "
                "WHERE tenant_id=? AND user_id=? AND instr(casefold(title), ?) > 0 "
                "ORDER BY created_at DESC LIMIT ?", (*key, needle, limit)).fetchall()
            # The newest matching message of each conversation (SQLite takes the bare
            # columns of an aggregate query from the row max() picked).
            by_text = db.execute(
                "SELECT c.tenant_id, c.id, c.user_id, c.title, c.created_at, NULL, "
                f"{_MESSAGE_COLUMNS_OF_M}, max(m.created_at) "
                "FROM conversations c JOIN messages m ON m.tenant_id=c.tenant_id AND "
                "m.conversation_id=c.id WHERE c.tenant_id=? AND c.user_id=? AND "
                "instr(casefold(m.text), ?) > 0 GROUP BY c.id "
                "ORDER BY c.created_at DESC LIMIT ?", (*key, needle, limit)).fetchall()
            total = db.execute("SELECT count(*) FROM conversations WHERE tenant_id=? AND "
                               "user_id=?", key).fetchone()[0]
            return by_title, by_text, int(total)
        by_title, by_text, total = await self._db.run(run)
        found: dict[str, Found] = {}
        for row in by_title:
            found[row[1]] = Found(_conversation(row))
        for row in by_text:
            if row[1] not in found:
                found[row[1]] = Found(_conversation(row[:6]), _message((*row[6:-1], None)))
        ranked = sorted(found.values(), key=lambda f: f.conversation.created_at, reverse=True)
        return SearchOutcome(ranked[:limit], complete=True, searched=total)

    async def list_conversations(self, tenant_id: str, user_id: str,
                                 limit: int = 50) -> list[Conversation]:
        rows = await self._db.run(lambda db: db.execute(
            "SELECT tenant_id, id, user_id, title, created_at, NULL FROM conversations "
            "WHERE tenant_id=? AND user_id=? ORDER BY created_at DESC LIMIT ?",
            (tenant_id, user_id, limit)).fetchall())
        return [_conversation(r) for r in rows]

    async def delete_conversation(self, tenant_id: str, conversation_id: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            key = (tenant_id, conversation_id)
            gone = db.execute("DELETE FROM conversations WHERE tenant_id=? AND id=?", key)
            for table in ("messages", "scores", "summaries"):
                db.execute(f"DELETE FROM {table} WHERE tenant_id=? AND conversation_id=?", key)
            return gone.rowcount == 1
        return await self._db.run(run)

    async def save_message(self, message: StoredMessage) -> None:
        m = message
        await self._db.run(lambda db: db.execute(
            # Replace: a regenerated answer (a redelivery) overwrites the one row of its
            # request, as on Cassandra; a user message is saved again with the same values.
            f"INSERT OR REPLACE INTO messages ({_MESSAGE_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (m.tenant_id, m.conversation_id, m.id, m.request_id, m.role, m.text,
             m.created_at.isoformat(), m.user_id, m.model, m.provider, m.prompt_tokens,
             m.completion_tokens, m.finish_reason, json.dumps(list(m.citations)),
             json.dumps(list(m.tool_calls)), m.parent_id, m.ttft_ms, m.duration_ms)))

    async def save_scores(self, tenant_id: str, conversation_id: str, message_id: str,
                          scores: dict[str, Any]) -> None:
        await self._db.run(lambda db: db.execute(
            "INSERT OR REPLACE INTO scores VALUES (?,?,?,?)",
            (tenant_id, conversation_id, message_id, json.dumps(scores))))

    async def list_messages(self, tenant_id: str, conversation_id: str,
                            limit: int = 100) -> list[StoredMessage]:
        rows = await self._db.run(lambda db: db.execute(
            f"SELECT m.*, s.scores FROM (SELECT {_MESSAGE_COLUMNS} FROM messages WHERE "
            "tenant_id=? AND conversation_id=? ORDER BY created_at DESC, role ASC LIMIT ?) m "
            "LEFT JOIN scores s ON s.tenant_id=m.tenant_id AND "
            "s.conversation_id=m.conversation_id AND s.message_id=m.id "
            "ORDER BY m.created_at, m.role DESC", (tenant_id, conversation_id, limit)).fetchall())
        return [_message(r) for r in rows]

    async def get_reply(self, tenant_id: str, request_id: str) -> StoredMessage | None:
        row = await self._db.run(lambda db: db.execute(
            f"SELECT {_MESSAGE_COLUMNS_OF_M}, s.scores FROM messages m LEFT JOIN scores s ON "
            "s.tenant_id=m.tenant_id AND s.conversation_id=m.conversation_id AND "
            "s.message_id=m.id WHERE m.tenant_id=? AND m.request_id=? AND "
            "m.role='assistant'", (tenant_id, request_id)).fetchone())
        return _message(row) if row else None

    async def get_summary(self, tenant_id: str, conversation_id: str) -> StoredSummary | None:
        row = await self._db.run(lambda db: db.execute(
            "SELECT text, through_message_id, through_us, updated_us FROM summaries "
            "WHERE tenant_id=? AND conversation_id=?", (tenant_id, conversation_id)).fetchone())
        if row is None:
            return None
        return StoredSummary(tenant_id, conversation_id, row[0], row[1], from_us(row[2]),
                             from_us(row[3]))

    async def save_summary(self, summary: StoredSummary) -> None:
        s = summary
        await self._db.run(lambda db: db.execute(
            "INSERT INTO summaries VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET text=excluded.text, "
            "through_message_id=excluded.through_message_id, "
            "through_us=excluded.through_us, updated_us=excluded.updated_us "
            "WHERE excluded.through_us >= summaries.through_us",
            (s.tenant_id, s.conversation_id, s.text, s.through_message_id,
             to_us(s.through_at), to_us(s.updated_at))))


_MESSAGE_COLUMNS = (
    "tenant_id, conversation_id, id, request_id, role, text, created_at, user_id, model, "
    "provider, prompt_tokens, completion_tokens, finish_reason, citations, tool_calls, "
    "parent_id, ttft_ms, duration_ms")
_MESSAGE_COLUMNS_OF_M = ", ".join(f"m.{c.strip()}" for c in _MESSAGE_COLUMNS.split(","))

# Columns added since the first schema: databases made before them get them (the
# statements name their columns, so where they land does not matter).
_ADDED = {
    "messages": (("tool_calls", "TEXT NOT NULL DEFAULT '[]'"), ("parent_id", "TEXT"),
                 ("ttft_ms", "REAL"), ("duration_ms", "REAL")),
    "conversations": (("settings", "TEXT"),),
}


def _add_columns(db: sqlite3.Connection) -> None:
    for table, added in _ADDED.items():
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in added:
            if name not in columns:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _casefold(text: str | None) -> str:
    return (text or "").casefold()


def _conversation(row: Any) -> Conversation:
    return Conversation(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]),
                        json.loads(row[5]) if row[5] else None)


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        tenant_id=row[0], conversation_id=row[1], id=row[2], request_id=row[3], role=row[4],
        text=row[5], created_at=datetime.fromisoformat(row[6]), user_id=row[7], model=row[8],
        provider=row[9], prompt_tokens=row[10], completion_tokens=row[11],
        finish_reason=row[12], citations=tuple(json.loads(row[13])),
        tool_calls=tuple(json.loads(row[14])), parent_id=row[15], ttft_ms=row[16],
        duration_ms=row[17], scores=json.loads(row[18]) if row[18] else None,
    )
