"""Branches of a conversation: the tree its messages make, and the history retrieval reads
along the branch a question follows (an edit, a regenerated answer, an older version)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from agents.deps import StageDeps
from agents.retrieval.stage import handle as retrieve
from kernel.settings import Settings
from schemas.catalogue import Catalogue, ModelSpec
from schemas.events import ContextBuilt, MessageReceived
from stores.conversations.base import Conversation, StoredMessage
from stores.conversations.branches import branch, parents
from stores.conversations.sqlite import SQLiteConversationStore

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
TINY = ModelSpec(name="tiny", provider="extractive", upstream="tiny")


def msg(i: int, role: Literal["user", "assistant"], parent: str | None = None,
        **fields: Any) -> StoredMessage:
    return StoredMessage(tenant_id="t", conversation_id="c", id=f"m{i}", request_id=f"r{i}",
                         role=role, text=f"turn {i}", created_at=T0 + timedelta(minutes=i),
                         user_id="u", parent_id=parent, **fields)


# m0 → m1 → m2 → m3 (a line, no parents named), then m4 edits m2 (same parent m1) and
# m5 answers it; m6 regenerates the answer to m0 (a sibling of m1).
TREE = [msg(0, "user"), msg(1, "assistant"), msg(2, "user"), msg(3, "assistant"),
        msg(4, "user", "m1"), msg(5, "assistant", "m4"), msg(6, "assistant", "m0")]


def ids(messages: list[StoredMessage]) -> list[str]:
    return [m.id for m in messages]


def test_a_message_without_a_parent_follows_the_one_before() -> None:
    assert parents(TREE) == {"m0": None, "m1": "m0", "m2": "m1", "m3": "m2", "m4": "m1",
                             "m5": "m4", "m6": "m0"}
    assert ids(branch(TREE, "m3")) == ["m0", "m1", "m2", "m3"]
    assert ids(branch(TREE, "m5")) == ["m0", "m1", "m4", "m5"]
    assert ids(branch(TREE, "m6")) == ["m0", "m6"]
    assert branch(TREE, None) == [] and branch(TREE, "gone") == []


def test_an_explicit_start_and_a_cycle_end_the_walk() -> None:
    edited_first = [*TREE, msg(7, "user", "")]
    assert ids(branch(edited_first, "m7")) == ["m7"]
    loop = [msg(0, "user", "m1"), msg(1, "assistant", "m0")]
    assert ids(branch(loop, "m1")) == ["m0", "m1"]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteConversationStore]:
    s = SQLiteConversationStore(tmp_path / "c.db")
    await s.start()
    await s.create_conversation(Conversation("t", "c", "u", "title", T0))
    for m in TREE:
        await s.save_message(m)
    yield s
    await s.close()


async def history(store: SQLiteConversationStore, turns: int = 20,
                  **request: Any) -> list[str | None]:
    deps = replace(StageDeps.of(Settings.defaults(), store=store,
                                catalogue=Catalogue(models=(TINY,)), providers={}),
                   history_turns=turns)
    fields: dict[str, Any] = {"request_id": "r9", "message_id": "m9", "text": "and now?",
                              **request}
    event = MessageReceived(tenant_id="t", conversation_id="c", user_id="u", model="tiny",
                            **fields)
    [emit] = [e async for e in retrieve(event, deps)]
    assert isinstance(emit.event, ContextBuilt)
    return [t.message_id for t in emit.event.history]


async def test_history_follows_the_branch_the_question_follows(
        store: SQLiteConversationStore) -> None:
    # After the newest message (a regenerated answer to the first question).
    assert await history(store) == ["m0", "m6"]
    assert await history(store, parent_id="m3") == ["m0", "m1", "m2", "m3"]
    assert await history(store, parent_id="m5") == ["m0", "m1", "m4", "m5"]
    assert await history(store, parent_id="") == []
    # Regenerating the answer to m4: its branch before it, not its own old answer.
    assert await history(store, message_id="m4", parent_id="m1", regenerate=True,
                         text="turn 4") == ["m0", "m1"]


async def test_a_branch_older_than_the_last_turns_read_is_read_further_back(
        store: SQLiteConversationStore) -> None:
    # Two turns read (three rows): m4..m6, none on m3's branch; retrieval reads further.
    assert await history(store, turns=2, parent_id="m3") == ["m2", "m3"]
