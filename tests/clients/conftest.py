"""The clients people point at an OpenAI-compatible API, against the session's stacks in
front of the fake model server: the official SDK, LangChain, instructor, LiteLLM (as a
client), the OpenAI Agents SDK and Pydantic AI."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import openai
import pytest

from harness.fake_models import FakeModelServer, Reply
from tests.support.stacks import Stack

# LiteLLM fetches its price list from the network when imported unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def marker() -> str:
    """Text unique to one test, put in its messages to count its upstream calls."""
    return f"[{uuid.uuid4().hex[:10]}]"


@pytest.fixture
async def sdk(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official client as people use it: its own retries on (max_retries=2)."""
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="dev", timeout=60)
    yield client
    await client.close()


@pytest.fixture
async def healthy_after(fake_model: FakeModelServer,
                        oai: openai.AsyncOpenAI) -> AsyncIterator[None]:
    """After a test that made the `flaky` provider fail, one answer it gives: the
    failures do not add up across tests into an open circuit."""
    yield
    question = f"are you well? [{uuid.uuid4().hex[:10]}]"
    fake_model.plan(Reply.stream("ok"), marker=question)
    await oai.chat.completions.create(model="flaky", messages=[
        {"role": "user", "content": question}])
