"""The official openai client against chatstream in front of a real OpenAI-protocol server
(the fake model server, which logs what it receives): tool calls streamed and not, the
next turn with the tools' results, every option forwarded, and a 400 naming each field
chatstream cannot honour."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import openai
import pytest

from harness.fake_models import FakeModelServer, FakeToolCall, Reply, SeenRequest
from tests.e2e.chat import ask, new_conversation, wait_for_messages

WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
ARGS = '{"city": "Paris", "unit": "celsius"}'


def _asked(fake: FakeModelServer, marker: str) -> SeenRequest:
    found = [r for r in fake.requests if any(marker in json.dumps(m) for m in r.messages)]
    assert found, f"the model server never saw {marker!r}"
    return found[-1]


async def test_streamed_tool_calls_then_the_next_turn_with_their_results(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, client: httpx.AsyncClient) -> None:
    question = f"What is the weather in Paris? ({uuid.uuid4().hex[:8]})"
    fake_model.plan(Reply.calling(FakeToolCall("get_weather", ARGS, id="call_w1"),
                                  FakeToolCall("get_weather", '{"city": "Oslo"}')),
                    marker=question)
    stream = await oai.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": question}], tools=[WEATHER],
        tool_choice="auto", parallel_tool_calls=True, stream=True)
    calls: dict[int, dict[str, str]] = {}
    finishes = []
    async for chunk in stream:
        for choice in chunk.choices:
            finishes.append(choice.finish_reason)
            for d in choice.delta.tool_calls or ():
                call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += d.id or ""
                if d.function is not None:
                    call["name"] += d.function.name or ""
                    call["arguments"] += d.function.arguments or ""
    assert calls == {0: {"id": "call_w1", "name": "get_weather", "arguments": ARGS},
                     1: {"id": "call_fake_1", "name": "get_weather",
                         "arguments": '{"city": "Oslo"}'}}
    assert finishes[-1] == "tool_calls"
    seen = _asked(fake_model, question)
    assert seen.body["tools"] == [WEATHER] and seen.body["tool_choice"] == "auto"
    assert seen.body["parallel_tool_calls"] is True

    # The agent runs the tools and sends their results back: the model goes on.
    fake_model.plan(Reply.stream("Sunny in Paris, snow in Oslo."), marker=question)
    follow_up: Any = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_w1", "type": "function",
             "function": {"name": "get_weather", "arguments": ARGS}},
            {"id": "call_fake_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": "18C sunny"},
        {"role": "tool", "tool_call_id": "call_fake_1", "content": "-2C snow"},
    ]
    raw_answer = await oai.chat.completions.with_raw_response.create(
        model="fake", messages=follow_up, tools=[WEATHER])
    answer = raw_answer.parse()
    assert answer.choices[0].message.content == "Sunny in Paris, snow in Oslo."
    assert answer.choices[0].finish_reason == "stop"
    seen = _asked(fake_model, "-2C snow")
    assert [m["role"] for m in seen.messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in seen.messages[1]["tool_calls"]] == ["call_w1", "call_fake_1"]
    assert [(m["tool_call_id"], m["content"]) for m in seen.messages[2:]] == [
        ("call_w1", "18C sunny"), ("call_fake_1", "-2C snow")]


async def test_a_non_streamed_tool_call_is_stored_with_the_answer(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer,
        client: httpx.AsyncClient) -> None:
    question = f"Weather in Paris? ({uuid.uuid4().hex[:8]})"
    fake_model.plan(Reply.calling(FakeToolCall("get_weather", ARGS)), marker=question)
    raw = await oai.chat.completions.with_raw_response.create(
        model="fake", messages=[{"role": "user", "content": question}],
        tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    completion = raw.parse()
    stored = await wait_for_messages(client, raw.headers["x-conversation-id"], 2)
    assert stored[-1]["tool_calls"] == [
        {"id": "call_fake_0", "name": "get_weather", "arguments": ARGS, "result": None}]
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id == "call_fake_0"
    assert (call.function.name, call.function.arguments) == ("get_weather", ARGS)  # type: ignore[union-attr]


async def test_every_option_reaches_the_model(oai: openai.AsyncOpenAI,
                                              fake_model: FakeModelServer) -> None:
    marker = f"options {uuid.uuid4().hex[:8]}"
    fake_model.plan(Reply.stream('{"ok": true}'), marker=marker)
    await oai.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": marker}],
        response_format={"type": "json_schema", "json_schema": {
            "name": "ok", "schema": {"type": "object"}, "strict": True}},
        stop=["END"], seed=7, top_p=0.5, presence_penalty=0.25, frequency_penalty=-0.25,
        logit_bias={"50256": -100}, user="user-42", max_completion_tokens=99,
        temperature=0.1)
    body = _asked(fake_model, marker).body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "ok"
    assert (body["stop"], body["seed"], body["top_p"]) == (["END"], 7, 0.5)
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.25, -0.25)
    assert body["logit_bias"] == {"50256": -100} and body["user"] == "user-42"
    assert body["max_tokens"] == 99 and body["temperature"] == 0.1


async def test_an_image_reaches_a_vision_model(oai: openai.AsyncOpenAI,
                                               fake_model: FakeModelServer) -> None:
    marker = f"what is in this picture {uuid.uuid4().hex[:8]}"
    url = "data:image/png;base64," + "iVBORw0KGgo" * 10
    fake_model.plan(Reply.stream("A cat."), marker=marker)
    await oai.chat.completions.create(model="fake-vision", messages=[{
        "role": "user", "content": [{"type": "text", "text": marker},
                                    {"type": "image_url", "image_url": {"url": url}}]}])
    seen = _asked(fake_model, marker)
    assert seen.messages[-1]["content"][1] == {"type": "image_url", "image_url": {"url": url}}


IMAGE: Any = [{"role": "user", "content": [
    {"type": "text", "text": "what is this?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
HI: Any = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("model", "messages", "extra", "param"), [
    ("fake", HI, {"n": 2}, "n"),
    ("local", HI, {"tools": [WEATHER]}, "tools"),
    ("fake-no-tools", HI, {"tools": [WEATHER]}, "tools"),
    ("fake-no-tools", HI, {"response_format": {"type": "json_object"}}, "response_format"),
    ("local", HI, {"logit_bias": {"1": 2}}, "logit_bias"),
    ("fake", IMAGE, {}, "messages.0.content.1.image_url"),
    ("fake", HI, {"logprobs": True}, "logprobs"),
    ("fake", HI, {"top_k": 5}, "top_k"),
    ("fake", HI, {"tool_choice": "auto"}, "tool_choice"),
    ("fake", [{"role": "assistant", "content": "hi", "audio": {"id": "a1"}}, *HI], {},
     "messages.0.audio"),
    ("fake", [*HI, {"role": "tool", "tool_call_id": "x", "content": "1"}], {},
     "messages.1.role"),
])
async def test_what_cannot_be_honoured_is_a_400_naming_the_field(
        client: httpx.AsyncClient, model: str, messages: Any, extra: dict[str, Any],
        param: str) -> None:
    r = await client.post("/v1/chat/completions",
                          json={"model": model, "messages": messages, **extra})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"] and error["code"]


async def test_the_sdk_sees_the_400_as_a_bad_request(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(model="local", messages=HI, tools=[WEATHER])
    assert caught.value.param == "tools"  # type: ignore[attr-defined]


async def test_the_native_route_streams_a_tool_call_readably(
        client: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    cid = await new_conversation(client)
    question = f"Weather in Paris, natively? ({uuid.uuid4().hex[:8]})"
    fake_model.plan(Reply.calling(FakeToolCall("get_weather", ARGS)), marker=question)
    answer = await ask(client, cid, question, model="fake",
                       options={"tools": [WEATHER], "tool_choice": "required"})
    calls = [e.json() for e in answer.events if e.event == "tool_calls"]
    assert calls[0]["name"] == "get_weather" and calls[0]["id"] == "call_fake_0"
    assert "".join(c["arguments"] for c in calls) == ARGS
    assert answer.last.event == "done" and answer.last.json()["finish_reason"] == "tool_calls"
    seen = _asked(fake_model, question)
    assert seen.body["tools"] == [WEATHER] and seen.body["tool_choice"] == "required"

    # The next turn sees the call in the stored history, told as text (no result came).
    await wait_for_messages(client, cid, 2)
    again = f"And now? ({uuid.uuid4().hex[:8]})"
    fake_model.plan(Reply.stream("ok"), marker=again)
    await ask(client, cid, again, model="fake")
    seen = _asked(fake_model, again)
    assert "get_weather" in seen.messages[-2]["content"]


@pytest.mark.parametrize(("model", "options", "code"), [
    ("local", {"tools": [WEATHER]}, "unsupported_parameter"),
    ("fake", {"top_k": 3}, "unknown_parameter"),
    ("fake", {"temperature": 9}, "invalid_value"),
])
async def test_the_native_route_refuses_options_it_cannot_honour(
        client: httpx.AsyncClient, model: str, options: dict[str, Any], code: str) -> None:
    cid = await new_conversation(client)
    r = await client.post(f"/v1/conversations/{cid}/messages",
                          json={"text": "hi", "model": model, "options": options})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code


async def test_the_models_list_says_what_each_model_supports(oai: openai.AsyncOpenAI) -> None:
    listed = {m.id: m.model_dump() for m in (await oai.models.list()).data}
    assert {k: listed["local"][k] for k in ("tools", "vision", "json_mode")} == {
        "tools": False, "vision": False, "json_mode": False}
    assert (listed["fake"]["tools"], listed["fake"]["vision"]) == (True, False)
    assert listed["fake-vision"]["vision"] is True
    assert (listed["fake-no-tools"]["tools"], listed["fake-no-tools"]["json_mode"]) == (
        False, False)


async def test_images_over_the_request_budget_are_413_in_openais_shape(
        client: httpx.AsyncClient) -> None:
    url = "data:image/png;base64," + "A" * (600 * 1024)
    r = await client.post("/v1/chat/completions", json={"model": "fake-vision", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": url}}]}]})
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert (error["code"], error["param"]) == ("image_too_large", "messages.0.content")
