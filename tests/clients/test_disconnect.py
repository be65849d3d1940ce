"""A client that closes the stream (or gives up waiting) stops the upstream, as OpenAI
does: the upstream sees its connection close and stops generating and billing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai

from harness.fake_models import FakeModelServer, Reply
from tests.support.stacks import Stack
from tests.support.wait import until

LONG = Reply(tokens=3000, pace_s=0.01)  # half a minute if nobody stops it




def _stopped(fake: FakeModelServer, marker: str) -> Callable[[], bool]:
    def check() -> bool:
        seen = fake.asked(marker)
        return len(seen) == 1 and seen[0].outcome == "disconnected"
    return check


def _user(marker: str) -> Any:
    return [{"role": "user", "content": f"Count to three thousand {marker}"}]


async def test_closing_a_chat_completions_stream_stops_the_upstream(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(LONG, marker=marker)
    stream = await oai.chat.completions.create(model="fake", messages=_user(marker),
                                               stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    await until(_stopped(fake_model, marker), 30)
    assert fake_model.asked(marker)[0].chunks_sent < 3000


async def test_closing_a_responses_stream_stops_the_upstream(
        oai: openai.AsyncOpenAI, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(LONG, marker=marker)
    stream = await oai.responses.create(model="fake", input=f"Count {marker}", stream=True)
    async for event in stream:
        if event.type == "response.output_text.delta":
            break
    await stream.close()
    await until(_stopped(fake_model, marker), 30)


async def test_giving_up_on_a_non_streamed_answer_stops_the_upstream(
        stack: Stack, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(LONG, marker=marker)
    impatient = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev",
                                   max_retries=0, timeout=2)
    try:
        try:
            await impatient.chat.completions.create(model="fake", messages=_user(marker))
        except openai.APITimeoutError:
            pass
        else:
            raise AssertionError("the answer takes half a minute: it should time out")
    finally:
        await impatient.close()
    await until(_stopped(fake_model, marker), 30)


async def test_a_client_that_says_so_leaves_the_answer_running(
        client: httpx.AsyncClient, fake_model: FakeModelServer, marker: str) -> None:
    fake_model.plan(Reply(tokens=30, pace_s=0.02), marker=marker)
    async with client.stream("POST", "/v1/chat/completions", json={
            "model": "fake", "messages": _user(marker), "stream": True},
            headers={"X-Chatstream-On-Disconnect": "continue"}) as response:
        async for line in response.aiter_lines():
            if '"content":"tok' in line.replace(" ", ""):
                break
    await until(lambda: [r.outcome for r in fake_model.asked(marker)] == ["completed"], 30)
