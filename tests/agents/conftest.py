"""Fixtures for the stage tests: the fake model server and providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents.providers.groq_sdk import GroqProvider
from agents.providers.openai_sdk import OpenAIProvider
from harness.fake_models import FakeModelServer

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
async def fake() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer() as server:
        yield server


@pytest.fixture
async def backup() -> AsyncIterator[FakeModelServer]:
    """A second, independent model server (another provider's)."""
    async with FakeModelServer() as server:
        yield server


@pytest.fixture
async def openai_provider(fake: FakeModelServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider("openai", base_url=fake.openai_base_url, api_key=KEY,
                              timeout_s=5)
    yield provider
    await provider.aclose()


@pytest.fixture
async def groq_provider(backup: FakeModelServer) -> AsyncIterator[GroqProvider]:
    provider = GroqProvider(base_url=backup.groq_base_url, api_key=KEY, timeout_s=5)
    yield provider
    await provider.aclose()
