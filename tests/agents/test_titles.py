"""Titles written by the model that answered a conversation's first question: the offline
model's from the question, a hosted model's from its answer to the instructions, and
never over a title a person chose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.deps import StageDeps
from agents.inference.retry import RetryPolicy
from agents.inference.stage import handle
from agents.providers.base import Prompt
from agents.providers.extractive import ExtractiveProvider, title
from agents.providers.messages import TITLE_INSTRUCTIONS
from agents.providers.openai_sdk import OpenAIProvider
from harness.fake_models import FakeModelServer, Reply
from kernel.settings import Settings
from schemas.catalogue import Catalogue, ModelSpec
from schemas.events import ContextBuilt, HistoryTurn, MessageReceived
from stores.conversations.base import DEFAULT_TITLE, Conversation
from stores.conversations.sqlite import SQLiteConversationStore

CATALOGUE = Catalogue(models=(
    ModelSpec(name="hosted", provider="openai", upstream="gpt-x"),
    ModelSpec(name="offline", provider="extractive", upstream="extractive-v1"),
))
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("question", "expected"), [
    ("Who is the keeper of the Quorvane lighthouse?", "Keeper of the Quorvane lighthouse"),
    ("Here is the backoff rule for the **billing** service:\n\n```python\nx = 1\n```",
     "Backoff rule for the billing service"),
    ("My favourite colour is teal, my cat is called Miso.", "My favourite colour is teal"),
    ("# Notes\n\nplease explain how consumer groups rebalance when a worker dies",
     "Notes"),
])
def test_the_offline_title_is_the_questions_first_words(question: str, expected: str) -> None:
    assert title(Prompt(question=question)) == expected


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteConversationStore]:
    s = SQLiteConversationStore(tmp_path / "db.sqlite")
    await s.start()
    yield s
    await s.close()


def deps(store: SQLiteConversationStore, openai: OpenAIProvider) -> StageDeps:
    made = StageDeps.of(Settings.defaults(), store=store, catalogue=CATALOGUE, providers={
        "openai": openai, "extractive": ExtractiveProvider(delay_ms=0)})
    return replace(made, retry=RetryPolicy(retries=0, backoff_s=0.01, max_backoff_s=0.05,
                                           retry_after_max_s=5, first_token_timeout_s=5.0))


def ctx(model: str, text: str, history: tuple[HistoryTurn, ...] = ()) -> ContextBuilt:
    return ContextBuilt(tenant_id="t", history=history, request=MessageReceived(
        tenant_id="t", request_id="r1", message_id="m1", conversation_id="c", user_id="u",
        text=text, model=model))


async def titled(store: SQLiteConversationStore, openai: OpenAIProvider, context: ContextBuilt,
                 start: str = DEFAULT_TITLE) -> str:
    await store.create_conversation(Conversation("t", "c", "u", start, T0))
    events: list[Any] = [e async for e in handle(context, deps(store, openai))]
    assert events
    found = await store.get_conversation("t", "c")
    assert found is not None
    return found.title


async def test_the_offline_model_titles_a_new_conversation(
        store: SQLiteConversationStore, openai_provider: OpenAIProvider) -> None:
    assert await titled(store, openai_provider, ctx(
        "offline", "Who is the keeper of the Quorvane lighthouse?")) == \
        "Keeper of the Quorvane lighthouse"


async def test_a_hosted_model_is_asked_for_its_title(
        store: SQLiteConversationStore, openai_provider: OpenAIProvider,
        fake: FakeModelServer) -> None:
    fake.plan(Reply.stream("The ferry leaves at seven from pier two."),
              Reply.stream('"Title: Ferry departure times."'))
    assert await titled(store, openai_provider, ctx(
        "hosted", "When does the ferry leave?")) == "Ferry departure times"
    asked = fake.requests[-1].messages
    assert asked[0] == {"role": "system", "content": TITLE_INSTRUCTIONS}
    assert "When does the ferry leave?" in asked[1]["content"]
    assert "pier two" in asked[1]["content"]


async def test_a_failed_title_falls_back_to_the_offline_one(
        store: SQLiteConversationStore, openai_provider: OpenAIProvider,
        fake: FakeModelServer) -> None:
    fake.plan(Reply.stream("It leaves at seven."), Reply.failing(500))
    assert await titled(store, openai_provider, ctx(
        "hosted", "When does the Skarholm ferry leave?")) == "Skarholm ferry leave"


async def test_a_chosen_title_and_a_later_turn_are_left_alone(
        store: SQLiteConversationStore, openai_provider: OpenAIProvider) -> None:
    assert await titled(store, openai_provider, ctx("offline", "Tell me about ferries."),
                        start="Mine") == "Mine"


async def test_a_later_turn_writes_no_title(
        store: SQLiteConversationStore, openai_provider: OpenAIProvider) -> None:
    later = ctx("offline", "And the return?", (HistoryTurn(role="user", text="Ferries?"),))
    assert await titled(store, openai_provider, later) == DEFAULT_TITLE
