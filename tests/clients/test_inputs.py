"""What the clients send is accepted: ``name`` on any message (instructor's retry, a
LangChain multi-agent conversation), and an assistant message sent back as the SDK
returned it (``model_dump()``, with its null fields)."""

from __future__ import annotations

from typing import Any

import instructor
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from harness.fake_models import FakeModelServer, FakeToolCall, Reply
from tests.support.stacks import Stack


async def test_names_on_messages_reach_the_model(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    messages: Any = [
        {"role": "system", "content": "You referee.", "name": "rules"},
        {"role": "user", "content": "I say heads.", "name": "ann"},
        {"role": "assistant", "content": "Noted, Ann.", "name": "referee"},
        {"role": "user", "content": f"I say tails {marker}", "name": "bob"}]
    fake_model.plan(Reply.stream("Heads it is."), marker=marker)
    answer = await oai.chat.completions.create(model="fake", messages=messages)
    assert answer.choices[0].message.content == "Heads it is."
    [seen] = fake_model.asked(marker)
    assert [(m["role"], m.get("name")) for m in seen.messages] == [
        ("system", "rules"), ("user", "ann"), ("assistant", "referee"), ("user", "bob")]


async def test_an_assistant_message_sent_back_as_the_sdk_returned_it(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    porto = f"Tell me about Porto. {marker}/porto"
    fake_model.plan(Reply.stream("Porto is lovely."), marker=porto)
    first = await oai.chat.completions.create(model="fake", messages=[
        {"role": "user", "content": porto}])
    said = first.choices[0].message.model_dump()  # null refusal, audio, function_call...
    assert said["audio"] is None and said["function_call"] is None
    lisbon = f"And Lisbon? {marker}"
    fake_model.plan(Reply.stream("Lisbon too."), marker=lisbon)
    second = await oai.chat.completions.create(model="fake", messages=[
        {"role": "user", "content": porto}, said, {"role": "user", "content": lisbon}])
    assert second.choices[0].message.content == "Lisbon too."
    [seen] = fake_model.asked(lisbon)
    assert seen.messages[1] == {"role": "assistant", "content": "Porto is lovely."}


async def test_langchain_multi_agent_messages(
        stack: Stack, fake_model: FakeModelServer, marker: str) -> None:
    llm = ChatOpenAI(base_url=f"{stack.url}/v1", api_key="dev",  # type: ignore[arg-type]
                     model="fake", max_retries=0)
    fake_model.plan(Reply.stream("Agreed."), marker=marker)
    answer = await llm.ainvoke([
        SystemMessage("Two agents plan a trip."),
        HumanMessage("Plan three days in Porto.", name="planner"),
        AIMessage("Day one: Ribeira.", name="researcher"),
        HumanMessage(f"Anything else? {marker}", name="planner")])
    assert answer.content == "Agreed."
    [seen] = fake_model.asked(marker)
    assert [m.get("name") for m in seen.messages] == [None, "planner", "researcher",
                                                       "planner"]


class User(BaseModel):
    name: str
    age: int


async def test_instructor_retries_a_reply_that_failed_validation(
        stack: Stack, fake_model: FakeModelServer, marker: str) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev", max_retries=0)
    client = instructor.from_openai(sdk)
    fake_model.plan(
        Reply.calling(FakeToolCall("User", '{"name": "Ann", "age": "thirty-one"}')),
        Reply.calling(FakeToolCall("User", '{"name": "Ann", "age": 31}')), marker=marker)
    try:
        user = await client.chat.completions.create(
            model="fake", response_model=User, max_retries=1,
            messages=[{"role": "user", "content": f"Ann is 31. {marker}"}])
    finally:
        await sdk.close()
    assert (user.name, user.age) == ("Ann", 31)
    _, retry = fake_model.asked(marker)
    # The retry carries the failed call and instructor's correction, a tool message with
    # the function's name.
    assert [m["role"] for m in retry.messages] == ["user", "assistant", "tool"]
    assert "thirty-one" in retry.messages[1]["tool_calls"][0]["function"]["arguments"]
    assert retry.messages[2]["tool_call_id"] == "call_fake_0"


def _tool_round(marker: str, result: str) -> Any:
    return [{"role": "user", "content": f"Summarise the page {marker}"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "read_page", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": result}]


READ_PAGE: Any = [{"type": "function", "function": {
    "name": "read_page", "parameters": {"type": "object", "properties": {}}}}]


async def test_a_tool_result_is_bounded_by_the_models_window(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    page = "A line of the page that the agent read. " * 500  # 20,000 characters
    fake_model.plan(Reply.stream("It is about lines."), marker=marker)
    answer = await oai.chat.completions.create(model="fake", tools=READ_PAGE,
                                               messages=_tool_round(marker, page))
    assert answer.choices[0].message.content == "It is about lines."
    [seen] = fake_model.asked(marker)
    assert seen.messages[-1]["content"] == page

    # More than `fake`'s 8192-token window: a 400 that names the window.
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(model="fake", tools=READ_PAGE,
                                          messages=_tool_round(marker, page * 3))
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "messages.2.content"
    assert "8192 tokens" in caught.value.message
