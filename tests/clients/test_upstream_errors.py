"""An upstream's errors keep their meaning through chatstream, as each client sees them:
a request the upstream refuses is that 4xx, with its message, asked once; a rate limit is
a 429 with Retry-After; failures are retried and failed over within the request's budget,
then a 5xx the SDKs retry; a failure after the first token is an error the SDK raises."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from langchain_openai import ChatOpenAI

from harness.fake_models import FakeModelServer, Reply
from tests.support.stacks import Stack

pytestmark = pytest.mark.usefixtures("healthy_after")

REFUSAL = Reply.failing(400, "Invalid 'messages[0].content': string too long.",
                        type="invalid_request_error", code="string_above_max_length",
                        param="messages[0].content")


def _user(marker: str) -> Any:
    return [{"role": "user", "content": f"Tell me a story {marker}"}]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_400_is_that_400_asked_once(
        sdk: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str,
        stream: bool) -> None:
    fake_model.plan(REFUSAL, marker=marker)
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="flaky", messages=_user(marker),
                                          stream=stream)
    error = caught.value
    assert error.status_code == 400
    assert error.message.endswith("Invalid 'messages[0].content': string too long.")
    assert (error.code, error.param, error.type) == (
        "string_above_max_length", "messages[0].content", "invalid_request_error")
    # The SDK (max_retries=2) does not retry a 400; chatstream neither retries nor fails
    # over: the upstream saw the request once.
    assert len(fake_model.asked(marker)) == 1


async def test_an_upstream_429_is_a_429_with_retry_after(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    # Both models of the chain are rate limited for longer than is worth waiting here.
    fake_model.plan(Reply.rate_limited(retry_after=40), Reply.rate_limited(retry_after=90),
                    marker=marker)
    with pytest.raises(openai.RateLimitError) as caught:
        await oai.chat.completions.create(model="flaky", messages=_user(marker))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "40"
    assert [r.model for r in fake_model.asked(marker)] == ["flaky-model",
                                                           "flaky-backup-model"]


async def test_failures_are_retried_within_the_requests_budget_then_a_502(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str,
        stack: Stack) -> None:
    fake_model.plan(*[Reply.failing(500)] * 4, marker=marker)
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.chat.completions.create(model="flaky", messages=_user(marker))
    assert caught.value.status_code == 502
    # PROVIDER_RETRIES (2) plus the two models of the chain: four calls, no more.
    assert [r.model for r in fake_model.asked(marker)] == [
        "flaky-model", "flaky-model", "flaky-model", "flaky-backup-model"], stack.logs()


async def test_a_failure_after_the_first_token_is_an_error_the_sdk_raises(
        sdk: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(Reply.erroring(after=3, text="one two three four five six", error={
        "message": "The server had an error while processing your request.",
        "type": "server_error"}), marker=marker)
    stream = await sdk.chat.completions.create(model="flaky", messages=_user(marker),
                                               stream=True)
    pieces: list[str] = []

    async def read() -> None:
        async for chunk in stream:
            pieces.extend(c.delta.content or "" for c in chunk.choices)

    with pytest.raises(openai.APIError) as caught:
        await read()
    assert "".join(pieces).startswith("one two three")
    error = caught.value
    assert error.type == "server_error" and error.code == "provider_error"
    assert "The server had an error" in error.message
    assert isinstance(error.body, dict) and error.body["status"] == 502


async def test_langchain_sees_the_upstreams_400(
        stack: Stack, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(REFUSAL, marker=marker)
    llm = ChatOpenAI(base_url=f"{stack.url}/v1", api_key="dev",  # type: ignore[arg-type]
                     model="flaky", max_retries=2)
    with pytest.raises(openai.BadRequestError) as caught:
        await llm.ainvoke(f"Tell me a story {marker}")
    assert caught.value.status_code == 400
    assert len(fake_model.asked(marker)) == 1


async def test_litellm_as_a_client_sees_the_upstreams_429(
        stack: Stack, fake_model: FakeModelServer, marker: str) -> None:
    import litellm

    fake_model.plan(Reply.rate_limited(retry_after=40), Reply.rate_limited(retry_after=90),
                    marker=marker)
    with pytest.raises(litellm.RateLimitError) as caught:
        await litellm.acompletion(model="openai/flaky", api_base=f"{stack.url}/v1",
                                  api_key="dev", messages=_user(marker), num_retries=0)
    assert caught.value.status_code == 429
    assert len(fake_model.asked(marker)) == 2
