"""Pydantic AI's agent against chatstream's chat completions: structured output through
its tool call, and an upstream's refusal raised as the status it had."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from harness.fake_models import FakeModelServer, FakeToolCall, Reply
from tests.support.stacks import Stack


class City(BaseModel):
    name: str
    country: str


@pytest.fixture
async def sdk_client(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev", max_retries=0)
    yield client
    await client.close()


def _model(client: openai.AsyncOpenAI, name: str) -> OpenAIChatModel:
    return OpenAIChatModel(name, provider=OpenAIProvider(openai_client=client))


async def test_structured_output_through_a_tool_call(
        sdk_client: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(Reply.calling(FakeToolCall(
        "final_result", '{"name": "Porto", "country": "Portugal"}')), marker=marker)
    agent = Agent(_model(sdk_client, "fake"), output_type=City)
    result = await agent.run(f"Where is the Ribeira? {marker}")
    assert result.output == City(name="Porto", country="Portugal")
    [seen] = fake_model.asked(marker)
    assert [t["function"]["name"] for t in seen.body["tools"]] == ["final_result"]


@pytest.mark.usefixtures("healthy_after")
async def test_an_upstream_refusal_is_raised_with_its_status(
        sdk_client: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(Reply.failing(400, "Invalid schema for function 'final_result'.",
                                  type="invalid_request_error", code="invalid_function_parameters"),
                    marker=marker)
    agent = Agent(_model(sdk_client, "flaky"), output_type=City)
    with pytest.raises(ModelHTTPError) as caught:
        await agent.run(f"Where is the Ribeira? {marker}")
    assert caught.value.status_code == 400
    assert len(fake_model.asked(marker)) == 1
