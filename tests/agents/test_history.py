"""Fitting history into a model's window: the oldest turns folded into a summary written
by the model, stored per conversation, and not rewritten every turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.deps import StageDeps
from agents.inference.history import PromptBuilder, SummaryCache
from agents.providers.base import Delta, Prompt
from agents.providers.extractive import ExtractiveProvider
from agents.retrieval.stage import handle as retrieve
from kernel.errors import ProviderError
from kernel.settings import Settings
from schemas.catalogue import Catalogue, ModelSpec
from schemas.events import ContextBuilt, HistorySummary, HistoryTurn, MessageReceived
from stores.conversations.base import Conversation, StoredMessage
from stores.conversations.sqlite import SQLiteConversationStore

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
TINY = ModelSpec(name="tiny", provider="local", upstream="extractive-v1", context_window=400)
SMALL = ModelSpec(name="small", provider="local", upstream="extractive-v1",
                  context_window=1600)
BIG = ModelSpec(name="big", provider="local", upstream="extractive-v1", context_window=100_000)
FILLER = ("The quarterly report covers logistics, staffing and the new warehouse layout in "
          "some detail, with tables. ")


class CountingProvider(ExtractiveProvider):
    """The local model, counting the summaries it is asked for."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(delay_ms=0)
        self.summaries = 0
        self.fail = fail

    async def stream(self, model: ModelSpec, prompt: Prompt) -> AsyncIterator[Delta]:
        if prompt.task == "summarize":
            self.summaries += 1
            if self.fail:
                raise ProviderError("local", "down", retryable=True)
        async for d in super().stream(model, prompt):
            yield d


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteConversationStore]:
    s = SQLiteConversationStore(tmp_path / "db.sqlite")
    await s.start()
    yield s
    await s.close()


def turns(n: int) -> tuple[HistoryTurn, ...]:
    out = [HistoryTurn(role="user", text="My favourite city is Lisbon.", message_id="m0",
                       at=T0)]
    for i in range(1, n):
        role = "user" if i % 2 == 0 else "assistant"
        out.append(HistoryTurn(role=role, text=f"{FILLER * 2}(turn {i})", message_id=f"m{i}",
                               at=T0 + timedelta(minutes=i)))
    return tuple(out)


def ctx(history: tuple[HistoryTurn, ...], *, summary: HistorySummary | None = None,
        inline: bool = False, text: str = "Which city is my favourite?") -> ContextBuilt:
    request = MessageReceived(tenant_id="t", request_id="r", message_id="q",
                              conversation_id="c", user_id="u", text=text, model="tiny",
                              history=history if inline else None)
    return ContextBuilt(tenant_id="t", request=request, history=history, summary=summary)


async def test_a_short_history_is_sent_whole(store: SQLiteConversationStore) -> None:
    provider = CountingProvider()
    prompt = await PromptBuilder(ctx(turns(3)), store)(BIG, provider)
    assert prompt.history == turns(3) and prompt.summary is None
    assert provider.summaries == 0
    assert await store.get_summary("t", "c") is None


async def test_an_overflowing_history_is_folded_into_a_stored_summary(
        store: SQLiteConversationStore) -> None:
    provider = CountingProvider()
    history = turns(40)
    builder = PromptBuilder(ctx(history), store)
    prompt = await builder(SMALL, provider)

    # One summarising call, however many turns are folded: each is read in part.
    calls = provider.summaries
    assert calls == 1
    assert prompt.history and prompt.history == history[-len(prompt.history):]
    assert len(prompt.history) < len(history)
    assert prompt.summary is not None and "Lisbon" in prompt.summary
    folded = history[len(history) - len(prompt.history) - 1]
    stored = await store.get_summary("t", "c")
    assert stored is not None and stored.text == prompt.summary
    assert (stored.through_message_id, stored.through_at) == (folded.message_id, folded.at)
    assert builder.prompt_tokens <= SMALL.context_window

    # The local model answers from the summary the old turns were folded into.
    answer = "".join([d.text async for d in provider.stream(SMALL, prompt)])
    assert "Lisbon" in answer

    # The next model of the chain reuses the summary instead of writing another.
    await builder(SMALL, provider)
    assert provider.summaries == calls


async def test_the_next_turn_starts_from_the_summary_without_rewriting_it(
        store: SQLiteConversationStore) -> None:
    provider = CountingProvider()
    history = turns(12)
    first = await PromptBuilder(ctx(history), store)(TINY, provider)
    assert first.summary is not None
    calls = provider.summaries
    stored = await store.get_summary("t", "c")
    assert stored is not None
    after = tuple(t for t in history if t.at is not None and t.at > stored.through_at)
    summary = HistorySummary(text=stored.text, through_message_id=stored.through_message_id,
                             through_at=stored.through_at)
    second = await PromptBuilder(ctx(after, summary=summary), store)(TINY, provider)
    assert provider.summaries == calls
    assert second.summary == stored.text and second.history == after


async def test_a_failed_summary_still_answers_with_the_newest_turns(
        store: SQLiteConversationStore) -> None:
    provider = CountingProvider(fail=True)
    prompt = await PromptBuilder(ctx(turns(12)), store)(TINY, provider)
    assert provider.summaries == 1  # the first failure stops summarising
    assert prompt.summary is None and 0 < len(prompt.history) < 12
    assert await store.get_summary("t", "c") is None


async def test_a_summary_of_turns_the_client_sent_is_not_stored(
        store: SQLiteConversationStore) -> None:
    provider = CountingProvider()
    prompt = await PromptBuilder(ctx(turns(40), inline=True), store)(SMALL, provider)
    assert prompt.summary is not None and "Lisbon" in prompt.summary
    assert await store.get_summary("t", "c") is None


async def test_a_message_larger_than_the_window_fails_that_model(
        store: SQLiteConversationStore) -> None:
    with pytest.raises(ProviderError) as caught:
        await PromptBuilder(ctx((), text="x" * 4000), store)(TINY, CountingProvider())
    assert "the context window of tiny" in str(caught.value)
    assert (caught.value.status, caught.value.code) == (400, "context_length_exceeded")


async def test_the_system_prompt_and_the_newest_turns_are_never_folded(
        store: SQLiteConversationStore) -> None:
    system = HistoryTurn(role="system", text="You answer in French, briefly.")
    history = (system, *turns(12))
    builder = PromptBuilder(ctx(history, inline=True), store)
    prompt = await builder(TINY, CountingProvider())
    assert prompt.history[0] == system
    assert prompt.history[1:] == history[-(len(prompt.history) - 1):]
    assert prompt.summary is not None
    fitted = builder.fitted
    assert fitted is not None
    assert fitted.summarized_turns + fitted.dropped_turns == 12 - (len(prompt.history) - 1)
    assert fitted.summarized_turns > 0


async def test_a_long_history_costs_one_summary_call_reported_in_the_usage(
        store: SQLiteConversationStore) -> None:
    provider = CountingProvider()
    builder = PromptBuilder(ctx(turns(400), inline=True), store)
    await builder(TINY, provider)
    assert provider.summaries == 1
    fitted = builder.fitted
    assert fitted is not None and fitted.dropped_turns > 0  # more than one call can read
    assert builder.extra_usage is not None and builder.extra_usage.prompt_tokens > 0


async def test_a_client_resending_its_conversation_finds_its_summary_cached(
        store: SQLiteConversationStore) -> None:
    provider = CountingProvider()
    cache = SummaryCache()
    history = turns(12)
    first = PromptBuilder(ctx(history, inline=True), store, cache=cache)
    await first(TINY, provider)
    assert provider.summaries == 1 and first.extra_usage is not None
    again = PromptBuilder(ctx(history, inline=True), store, cache=cache)
    prompt = await again(TINY, provider)
    assert provider.summaries == 1 and again.extra_usage is None  # no call at all
    assert prompt.summary is not None and again.fitted == first.fitted
    # Two turns later, only the turns that fell out since are folded into it: one call.
    longer = (*history, *turns(14)[12:])
    later = PromptBuilder(ctx(longer, inline=True), store, cache=cache)
    await later(TINY, provider)
    assert provider.summaries == 2
    # Another tenant sending the same turns does not see it.
    other = ctx(history, inline=True).model_copy(update={"tenant_id": "t2"})
    await PromptBuilder(other, store, cache=cache)(TINY, provider)
    assert provider.summaries == 3


async def test_retrieval_loads_the_summary_and_only_the_turns_after_it(
        store: SQLiteConversationStore) -> None:
    from stores.conversations.base import StoredSummary

    await store.create_conversation(Conversation("t", "c", "u", "title", T0))
    stored = [StoredMessage(tenant_id="t", conversation_id="c", id=f"m{i}", request_id=f"r{i}",
                            role="user" if i % 2 == 0 else "assistant", text=f"turn {i}",
                            created_at=T0 + timedelta(minutes=i), user_id="u")
              for i in range(6)]
    for m in stored:
        await store.save_message(m)
    await store.save_summary(StoredSummary("t", "c", "turns 0 to 3", "m3", stored[3].created_at,
                                           T0))
    deps = StageDeps.of(Settings.defaults(), store=store, catalogue=Catalogue(models=(TINY,)),
                        providers={})
    request = MessageReceived(tenant_id="t", request_id="r9", message_id="m9",
                              conversation_id="c", user_id="u", text="and now?", model="tiny")
    [emit] = [e async for e in retrieve(request, deps)]
    built = emit.event
    assert isinstance(built, ContextBuilt)
    assert [t.message_id for t in built.history] == ["m4", "m5"]
    assert built.history[0].at == stored[4].created_at
    assert built.summary is not None and built.summary.text == "turns 0 to 3"

    inline = request.model_copy(update={"history": (HistoryTurn(role="user", text="hi"),)})
    [emit] = [e async for e in retrieve(inline, deps)]
    assert isinstance(emit.event, ContextBuilt)
    assert emit.event.history == (HistoryTurn(role="user", text="hi"),)
    assert emit.event.summary is None
