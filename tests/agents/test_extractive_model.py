"""The extractive model answers from what the user shared, and says so when it cannot."""

from __future__ import annotations

from agents.providers.base import Prompt
from agents.providers.extractive import ExtractiveProvider, answer
from schemas.catalogue import ModelSpec
from schemas.events import HistoryTurn, Passage
from schemas.options import GenerationOptions

LOCAL = ModelSpec(name="extractive", provider="extractive", upstream="extractive-v1")


def test_quotes_the_passage_that_answers_the_question() -> None:
    prompt = Prompt(question="When does the night ferry to Tarsis leave?", passages=(
        Passage(document_id="d1", title="Timetable", chunk=0,
                text="The bakery opens at six. The night ferry to Tarsis leaves at 23:40."),
    ))
    text = answer(prompt)
    assert "23:40" in text
    assert "Timetable" in text
    assert "bakery" not in text


def test_remembers_what_the_user_said_earlier_in_second_person() -> None:
    prompt = Prompt(question="What is my favourite colour?", history=(
        HistoryTurn(role="user", text="My favourite colour is teal."),
        HistoryTurn(role="assistant", text="Noted."),
    ))
    assert answer(prompt) == "Earlier you said: your favourite colour is teal."


def test_says_plainly_when_it_cannot_answer() -> None:
    text = answer(Prompt(question="What is the capital of Mongolia?"))
    assert "can't answer" in text
    assert "extractive model" in text


async def test_streams_word_by_word_with_usage_at_the_end() -> None:
    deltas = [d async for d in ExtractiveProvider(delay_ms=0).stream(
        LOCAL, Prompt(question="I live in Porto."))]
    assert "".join(d.text for d in deltas) == "Noted: you live in Porto."
    assert len([d for d in deltas if d.text]) == 5
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens > 0


def test_echo_keeps_the_case_of_words_it_does_not_swap() -> None:
    assert answer(Prompt(question="My job raised TimeoutError in OpenAI's SDK.")) == (
        "Noted: your job raised TimeoutError in OpenAI's SDK.")


async def test_honours_stop_sequences_and_max_tokens() -> None:
    model = ExtractiveProvider(delay_ms=0)
    stopped = [d async for d in model.stream(LOCAL, Prompt(
        question="I live in Porto.", options=GenerationOptions(stop=(" in",))))]
    assert "".join(d.text for d in stopped) == "Noted: you live"
    assert stopped[-1].finish_reason == "stop"
    cut = [d async for d in model.stream(LOCAL, Prompt(question="I live in Porto.",
                                                       max_tokens=2))]
    assert "".join(d.text for d in cut) == "Noted: y"
    assert cut[-1].finish_reason == "length"


def test_catalogues_naming_the_old_local_provider_still_load() -> None:
    old = ModelSpec.model_validate({"name": "local", "provider": "local",
                                    "upstream": "extractive-v1"})
    assert old.provider == "extractive" and old.provider_key == "extractive" and old.offline
