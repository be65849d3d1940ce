"""The OpenAI and Groq adapters, through the official SDKs, against a real HTTP server
speaking the chat-completions protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents.providers.base import Delta, Prompt
from agents.providers.chunks import MAX_EVENT_CHARS, chunks
from agents.providers.groq_sdk import GroqProvider
from agents.providers.openai_sdk import OpenAIProvider
from agents.providers.sdk import retry_after
from harness.fake_models import FakeModelServer, Reply
from kernel.errors import ProviderError
from schemas.catalogue import ModelSpec
from schemas.events import HistoryTurn, Passage, Usage
from tests.agents.conftest import KEY
from tests.support.wait import until

MODEL = ModelSpec(name="m", provider="openai", upstream="gpt-test")
PROMPT = Prompt(question="What is teal?",
                history=(HistoryTurn(role="user", text="I like teal."),
                         HistoryTurn(role="assistant", text="Noted.")),
                passages=(Passage(document_id="d", title="Colours", chunk=0,
                                  text="Teal is a blue-green."),),
                max_tokens=50, temperature=0.2)


async def _all(provider: OpenAIProvider | GroqProvider, prompt: Prompt = PROMPT) -> list[Delta]:
    return [d async for d in provider.stream(MODEL, prompt)]




async def test_openai_streams_text_then_finish_and_usage(
        fake: FakeModelServer, openai_provider: OpenAIProvider) -> None:
    fake.plan(Reply.stream("Teal is a colour."))
    deltas = await _all(openai_provider)
    assert "".join(d.text for d in deltas) == "Teal is a colour."
    assert len([d for d in deltas if d.text]) == 4
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens == 4

    [seen] = fake.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.authorization == f"Bearer {KEY}"
    assert seen.body["model"] == "gpt-test" and seen.body["stream"] is True
    # OpenAI itself takes the limit as max_completion_tokens (its reasoning models refuse
    # max_tokens); other OpenAI-style servers get max_tokens.
    assert seen.body["max_completion_tokens"] == 50 and seen.body["temperature"] == 0.2
    assert "max_tokens" not in seen.body
    assert [m["role"] for m in seen.messages] == ["system", "user", "assistant", "user",
                                                  "user"]
    # The passage is quoted data in a user message, never part of the system message.
    assert "Teal is a blue-green." not in seen.messages[0]["content"]
    assert seen.messages[-2]["content"].startswith("<untrusted_documents>")
    assert '<passage title="Colours">\nTeal is a blue-green.\n</passage>' in \
        seen.messages[-2]["content"]
    assert seen.messages[-1]["content"] == "What is teal?"


async def test_groq_streams_with_usage_from_its_extension(
        backup: FakeModelServer, groq_provider: GroqProvider) -> None:
    backup.plan(Reply(tokens=5))
    deltas = await _all(groq_provider)
    assert "".join(d.text for d in deltas) == "tok0 tok1 tok2 tok3 tok4"
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens == 5
    assert backup.requests[0].path == "/openai/v1/chat/completions"


async def test_429_is_retryable_with_the_retry_after_it_sent(
        fake: FakeModelServer, openai_provider: OpenAIProvider) -> None:
    fake.plan(Reply.rate_limited(retry_after=7))
    with pytest.raises(ProviderError) as caught:
        await _all(openai_provider)
    assert caught.value.retryable and caught.value.status == 429
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (400, False),
                                                    (404, False)])
async def test_statuses_are_retryable_or_not(fake: FakeModelServer,
                                             openai_provider: OpenAIProvider, status: int,
                                             retryable: bool) -> None:
    fake.plan(Reply.failing(status))
    with pytest.raises(ProviderError) as caught:
        await _all(openai_provider)
    assert caught.value.retryable is retryable
    assert f"HTTP {status}" in str(caught.value)


async def test_a_refused_key_is_not_repeated_in_the_error(
        fake: FakeModelServer, openai_provider: OpenAIProvider) -> None:
    fake.plan(Reply.failing(401))
    with pytest.raises(ProviderError) as caught:
        await _all(openai_provider)
    assert not caught.value.retryable
    assert KEY not in str(caught.value) and "refused" in str(caught.value)


async def _fails_after_two_tokens(provider: OpenAIProvider) -> ProviderError:
    got: list[str] = []

    async def read() -> None:
        async for d in provider.stream(MODEL, PROMPT):
            got.append(d.text)

    with pytest.raises(ProviderError) as caught:
        await read()
    assert got == ["one ", "two "]
    return caught.value


async def test_a_stream_cut_in_the_middle_fails_after_its_first_tokens(
        fake: FakeModelServer, openai_provider: OpenAIProvider) -> None:
    fake.plan(Reply.cut(after=2, text="one two three four"))
    error = await _fails_after_two_tokens(openai_provider)
    assert error.retryable and "connection" in str(error)


async def test_a_malformed_chunk_fails_retryably(
        fake: FakeModelServer, openai_provider: OpenAIProvider) -> None:
    fake.plan(Reply.malformed(after=1, text="one two three"))
    with pytest.raises(ProviderError) as caught:
        await _all(openai_provider)
    assert caught.value.retryable and "malformed" in str(caught.value)


async def test_the_per_request_timeout_applies(fake: FakeModelServer) -> None:
    provider = OpenAIProvider("openai", base_url=fake.openai_base_url, api_key=KEY,
                              timeout_s=0.3)
    try:
        fake.plan(Reply.slow(first_token_delay_s=5))
        with pytest.raises(ProviderError) as caught:
            await _all(provider)
        assert caught.value.retryable and "timed out" in str(caught.value)
    finally:
        await provider.aclose()


async def test_an_unreachable_provider_fails_retryably() -> None:
    async with FakeModelServer() as gone:
        url = gone.openai_base_url
    provider = OpenAIProvider("openai", base_url=url, api_key=KEY, timeout_s=2)
    try:
        with pytest.raises(ProviderError) as caught:
            await _all(provider)
        assert caught.value.retryable
    finally:
        await provider.aclose()


async def test_closing_the_stream_early_closes_the_upstream_connection(
        fake: FakeModelServer, openai_provider: OpenAIProvider) -> None:
    fake.plan(Reply(tokens=500, pace_s=0.02))
    stream = openai_provider.stream(MODEL, PROMPT)
    first = await anext(stream)
    assert first.text == "tok0 "
    await stream.aclose()  # type: ignore[attr-defined]
    await until(lambda: fake.outcomes() == ["disconnected"])
    assert fake.requests[0].chunks_sent < 500


def test_retry_after_is_read_from_seconds_milliseconds_or_a_date() -> None:
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


async def test_an_error_event_mid_stream_fails_with_the_servers_message(
        fake: FakeModelServer, openai_provider: OpenAIProvider) -> None:
    fake.plan(Reply.erroring(after=2, text="one two three four"))
    error = await _fails_after_two_tokens(openai_provider)
    assert "had an error while processing" in str(error) and not error.retryable


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_chunks_are_read_as_eventsource_reads_them() -> None:
    """Comments and other fields are skipped, a data field split over lines is joined,
    and nothing after ``[DONE]`` is read."""
    got = [c async for c in chunks(_lines(
        ": keep-alive", "",
        "event: message",
        'data: {"choices": [{"index": 0,',
        'data: "delta": {"content": "hi"}, "finish_reason": null}]}', "",
        'data:{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}', "",
        "data: [DONE]", "",
        'data: {"choices": [{"index": 0, "delta": {"content": "late"}}]}', ""))]
    assert [c.text for c in got] == ["hi", ""]
    assert got[1].usage == Usage(prompt_tokens=3, completion_tokens=1)


async def test_an_oversized_upstream_event_is_refused() -> None:
    huge = "data: " + "x" * (MAX_EVENT_CHARS + 1)
    with pytest.raises(ValueError, match="too large"):
        _ = [c async for c in chunks(_lines(huge, ""))]
