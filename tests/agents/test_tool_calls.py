"""Tool calls and the request's options through the inference stage, against a real HTTP
server speaking OpenAI's protocol, through the official SDKs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agents.deps import StageDeps
from harness.fake_models import FakeModelServer, FakeToolCall, Reply
from schemas.events import (
    AnswerFailed,
    ContextBuilt,
    HistoryTurn,
    ImagePart,
    MessageReceived,
    ToolCall,
    ToolCallGenerated,
)
from schemas.options import GenerationOptions
from tests.agents.test_inference import make_deps, response, run, store  # noqa: F401


@pytest.fixture
def deps(make_deps: Callable[..., StageDeps]) -> Callable[..., StageDeps]:  # noqa: F811
    return make_deps

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
ARGS = '{"city": "Paris", "unit": "celsius"}'


def ctx(options: dict[str, Any], *, model: str = "primary",
        history: tuple[HistoryTurn, ...] = (), rounds: tuple[HistoryTurn, ...] = (),
        images: tuple[ImagePart, ...] = ()) -> ContextBuilt:
    return ContextBuilt(tenant_id="t", history=history, request=MessageReceived(
        tenant_id="t", request_id="r1", message_id="m1", conversation_id="c", user_id="u",
        text="What is the weather in Paris?", model=model, options=options,
        history=history, tool_rounds=rounds, images=images))


async def test_tool_call_deltas_become_events_and_the_response_keeps_the_calls(
        fake: FakeModelServer, deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.calling(FakeToolCall("get_weather", ARGS),
                            FakeToolCall("get_time", '{"tz": "CET"}')))
    options = {"tools": [WEATHER], "tool_choice": "auto", "parallel_tool_calls": True}
    events = await run(ctx(options), deps())
    pieces = [e for e in events if isinstance(e, ToolCallGenerated)]
    assert pieces[0].call_id == "call_fake_0" and pieces[0].name == "get_weather"
    assert "".join(p.arguments for p in pieces if p.index == 0) == ARGS
    assert "".join(p.arguments for p in pieces if p.index == 1) == '{"tz": "CET"}'
    assert [p.seq for p in pieces] == sorted(p.seq for p in pieces)
    done = response(events)
    assert done.finish_reason == "tool_calls" and done.text == ""
    assert done.tool_calls == (
        ToolCall(id="call_fake_0", name="get_weather", arguments=ARGS),
        ToolCall(id="call_fake_1", name="get_time", arguments='{"tz": "CET"}'))
    [seen] = fake.requests
    assert seen.body["tools"] == [WEATHER]
    assert seen.body["tool_choice"] == "auto" and seen.body["parallel_tool_calls"] is True


async def test_every_option_reaches_the_upstream(
        fake: FakeModelServer, deps: Callable[..., StageDeps]) -> None:
    options = GenerationOptions(
        max_tokens=64, temperature=0.3, top_p=0.9, stop=("END",), seed=7,
        presence_penalty=0.5, frequency_penalty=-0.5, logit_bias={"50256": -100},
        user="user-42", response_format={"type": "json_schema", "json_schema": {
            "name": "w", "schema": {"type": "object"}}})
    await run(ctx(options.model_dump(exclude_none=True)), deps())
    [seen] = fake.requests
    body = seen.body
    assert body["max_completion_tokens"] == 64 and body["temperature"] == 0.3
    assert (body["top_p"], body["stop"], body["seed"]) == (0.9, ["END"], 7)
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, -0.5)
    assert body["logit_bias"] == {"50256": -100} and body["user"] == "user-42"
    assert body["response_format"]["json_schema"]["name"] == "w"
    assert "tools" not in body and "n" not in body


async def test_failover_before_the_first_tool_call_delta(
        fake: FakeModelServer, backup: FakeModelServer,
        deps: Callable[..., StageDeps]) -> None:
    fake.set_default(Reply.failing(503))
    backup.plan(Reply.calling(FakeToolCall("get_weather", ARGS)))
    events = await run(ctx({"tools": [WEATHER]}), deps(retries=0))
    done = response(events)
    assert (done.model, done.provider) == ("backup", "groq")
    assert done.tool_calls[0].arguments == ARGS
    assert backup.requests[0].body["tools"] == [WEATHER]


async def test_a_fallback_that_cannot_honour_an_option_is_skipped(
        fake: FakeModelServer, backup: FakeModelServer,
        deps: Callable[..., StageDeps]) -> None:
    fake.set_default(Reply.failing(503))
    events = await run(ctx({"logit_bias": {"1": 5}}), deps(retries=0))
    [failed] = [e for e in events if isinstance(e, AnswerFailed)]
    assert failed.code == "provider_unavailable"
    assert backup.requests == []  # Groq refuses logit_bias: never asked


async def test_tool_results_and_images_reach_the_model_in_order(
        fake: FakeModelServer, deps: Callable[..., StageDeps]) -> None:
    calls = (ToolCall(id="a", name="get_weather", arguments=ARGS, result="18C, sunny"),
             ToolCall(id="b", name="get_time", arguments="{}", result="14:00"))
    earlier = (HistoryTurn(role="user", text="Hi"),
               HistoryTurn(role="assistant", text="", tool_calls=(
                   ToolCall(id="old", name="lookup", arguments="{}"),)))
    image = ImagePart(url="data:image/png;base64,iVBORw0KGgo=", detail="low")
    fake.plan(Reply.stream("It is sunny."))
    events = await run(ctx({"tools": [WEATHER]}, history=earlier, images=(image,),
                           rounds=(HistoryTurn(role="assistant", text="", tool_calls=calls),)),
                       deps())
    assert response(events).text == "It is sunny."
    messages = fake.requests[0].messages
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant",
                                             "tool", "tool"]
    # A stored call that never got its result is told as text, not left dangling.
    assert "tool_calls" not in messages[1] and "lookup({})" in messages[1]["content"]
    assert messages[2]["content"] == [
        {"type": "text", "text": "What is the weather in Paris?"},
        {"type": "image_url", "image_url": {"url": image.url, "detail": "low"}}]
    assert messages[3]["content"] is None
    assert [c["id"] for c in messages[3]["tool_calls"]] == ["a", "b"]
    assert messages[3]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                        "arguments": ARGS}
    assert [(m["tool_call_id"], m["content"]) for m in messages[4:]] == [
        ("a", "18C, sunny"), ("b", "14:00")]
