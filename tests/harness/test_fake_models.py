"""The fake model server as the tests of a session share it: a reply one test planned is
taken only by that test's request, whatever else reaches the server first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from harness.fake_models import FakeModelServer, Reply


@pytest.fixture
async def shared() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer(shared=True) as server:
        yield server


@pytest.fixture
async def sdk(shared: FakeModelServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=shared.openai_base_url, api_key="sk-test",
                                max_retries=0)
    yield client
    await client.close()


async def _say(sdk: openai.AsyncOpenAI, *user: str) -> str:
    done = await sdk.chat.completions.create(
        model="m", messages=[{"role": "user", "content": u} for u in user])
    return done.choices[0].message.content or ""


async def test_a_late_call_of_another_test_does_not_take_the_planned_reply(
        shared: FakeModelServer, sdk: openai.AsyncOpenAI) -> None:
    shared.plan(Reply.stream("Aye."), Reply.stream("Ferry departures"), marker="[harbour]")
    # An earlier test's conversation being titled arrives first: it gets the echo.
    assert await _say(sdk, "The message: Count to forty") == \
        "You said: The message: Count to forty"
    assert await _say(sdk, "When does the [harbour] ferry leave?") == "Aye."
    assert await _say(sdk, "The message: When does the [harbour] ferry leave?") == \
        "Ferry departures"
    assert await _say(sdk, "Again [harbour]") == "You said: Again [harbour]"


async def test_the_last_user_message_decides_which_plan_answers(
        shared: FakeModelServer, sdk: openai.AsyncOpenAI) -> None:
    shared.plan(Reply.stream("one"), marker="[a]")
    shared.plan(Reply.stream("two"), marker="[b]")
    # A later turn carries the earlier question, but asks its own.
    assert await _say(sdk, "first [a]", "second [b]") == "two"
    assert await _say(sdk, "first [a]") == "one"


async def test_a_shared_server_takes_no_unmarked_plan_and_is_never_reset(
        shared: FakeModelServer) -> None:
    with pytest.raises(ValueError, match="marker"):
        shared.plan(Reply.stream("whoever asks first"))
    with pytest.raises(ValueError, match="empty"):
        shared.plan(Reply.stream("everyone"), marker="")
    with pytest.raises(ValueError, match="reset"):
        shared.reset()


async def test_a_servers_own_test_plans_in_order_without_markers() -> None:
    async with FakeModelServer() as own:
        client = openai.AsyncOpenAI(base_url=own.openai_base_url, api_key="sk-test",
                                    max_retries=0)
        try:
            own.plan(Reply.stream("first"), Reply.stream("second"))
            own.plan(Reply.stream("marked"), marker="[m]")
            assert await _say(client, "hello") == "first"
            assert await _say(client, "hello [m]") == "marked"
            assert await _say(client, "hello") == "second"
            assert await _say(client, "hello") == "You said: hello"
        finally:
            await client.close()
