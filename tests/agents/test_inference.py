"""The inference stage's resilience, end to end through the official openai and groq SDKs
against real HTTP servers: retries, failover, circuit breaking, restarts and cancels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agents.deps import StageDeps
from agents.inference.breaker import BreakerBoard, BreakerConfig
from agents.inference.chunker import CANCELLED
from agents.inference.retry import RetryPolicy
from agents.inference.stage import handle
from agents.providers.base import ChatProvider
from agents.providers.extractive import ExtractiveProvider
from agents.providers.groq_sdk import GroqProvider
from agents.providers.openai_sdk import OpenAIProvider
from api.relay.stream import RequestStream
from harness.fake_models import FakeModelServer, Reply
from kernel.settings import Settings
from schemas.catalogue import Catalogue, ModelSpec
from schemas.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    CancelRequested,
    ContextBuilt,
    MessageReceived,
    ResponseCompleted,
    TokensGenerated,
)
from stores.conversations.sqlite import SQLiteConversationStore
from tests.agents.conftest import KEY
from tests.support.wait import until

CATALOGUE = Catalogue(models=(
    ModelSpec(name="primary", provider="openai", upstream="gpt-primary", fallbacks=("backup",)),
    ModelSpec(name="backup", provider="groq", upstream="llama-backup"),
    ModelSpec(name="restarting", provider="openai", upstream="gpt-primary",
              fallbacks=("backup",), restart_on_failure=True),
    ModelSpec(name="local", provider="local", upstream="extractive-v1"),
))
LONG = " ".join(f"word{i}" for i in range(40))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteConversationStore]:
    s = SQLiteConversationStore(tmp_path / "db.sqlite")
    await s.start()
    yield s
    await s.close()


@pytest.fixture
def make_deps(store: SQLiteConversationStore, openai_provider: OpenAIProvider,
              groq_provider: GroqProvider) -> Callable[..., StageDeps]:
    def make(*, retries: int = 2, first_token_timeout_s: float = 5.0,
             breakers: BreakerBoard | None = None,
             providers: dict[str, ChatProvider] | None = None) -> StageDeps:
        deps = StageDeps.of(
            Settings.defaults(), store=store, catalogue=CATALOGUE,
            providers=providers if providers is not None else {
                "openai": openai_provider, "groq": groq_provider,
                "extractive": ExtractiveProvider(delay_ms=0)},
            breakers=breakers)
        return replace(deps, chunk_max_ms=5, chunk_max_chars=8, retry=RetryPolicy(
            retries=retries, backoff_s=0.01, max_backoff_s=0.05, retry_after_max_s=5,
            first_token_timeout_s=first_token_timeout_s))
    return make


def context(model: str = "primary", text: str = "hello there",
            request_id: str = "r1") -> ContextBuilt:
    return ContextBuilt(tenant_id="t", request=MessageReceived(
        tenant_id="t", request_id=request_id, message_id=f"m-{request_id}",
        conversation_id="c", user_id="u", text=text, model=model))


async def run(ctx: ContextBuilt, deps: StageDeps) -> list[Any]:
    return [emit.event async for emit in handle(ctx, deps)]


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TokensGenerated))


def response(events: list[Any]) -> ResponseCompleted:
    [found] = [e for e in events if isinstance(e, ResponseCompleted)]
    return found




# -- retries -----------------------------------------------------------------------------


async def test_retry_after_429_honours_retry_after_then_succeeds(
        fake: FakeModelServer, make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.rate_limited(retry_after=1))
    started = time.monotonic()
    events = await run(context(), make_deps())
    assert time.monotonic() - started >= 0.95, "the retry must wait what Retry-After said"
    assert fake.outcomes() == ["error", "completed"]
    done = response(events)
    assert (done.model, done.provider, done.finish_reason) == ("primary", "openai", "stop")
    assert done.text == text_of(events) == "You said: hello there"
    assert done.usage.completion_tokens == 4  # the provider's own count


async def test_5xx_are_retried_with_backoff(fake: FakeModelServer,
                                            make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.failing(500), Reply.failing(502))
    events = await run(context(), make_deps(retries=2))
    assert fake.outcomes() == ["error", "error", "completed"]
    assert response(events).provider == "openai"


async def test_a_slow_first_token_times_out_and_is_retried(
        fake: FakeModelServer, make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.slow(first_token_delay_s=30))
    events = await run(context(), make_deps(first_token_timeout_s=2.0))
    await until(lambda: fake.outcomes() == ["disconnected", "completed"])
    assert response(events).text == "You said: hello there"


async def test_a_malformed_chunk_before_the_first_token_is_retried(
        fake: FakeModelServer, make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.malformed(after=0))
    events = await run(context(), make_deps())
    assert fake.outcomes() == ["malformed", "completed"]
    assert response(events).finish_reason == "stop"


# -- failover ----------------------------------------------------------------------------


@pytest.mark.parametrize("down", ["unreachable", "failing"])
async def test_failover_to_the_second_provider_when_the_first_is_down(
        down: str, fake: FakeModelServer, backup: FakeModelServer,
        groq_provider: GroqProvider, make_deps: Callable[..., StageDeps]) -> None:
    if down == "unreachable":
        async with FakeModelServer() as gone:
            url = gone.openai_base_url
        first: ChatProvider = OpenAIProvider("openai", base_url=url, api_key=KEY, timeout_s=2)
    else:
        fake.set_default(Reply.failing(503))
        first = OpenAIProvider("openai", base_url=fake.openai_base_url, api_key=KEY)
    backup.plan(Reply.stream("Backup here."))
    try:
        events = await run(context(), make_deps(retries=1, providers={
            "openai": first, "groq": groq_provider}))
    finally:
        await first.aclose()  # type: ignore[attr-defined]
    started = [e for e in events if isinstance(e, AnswerStarted)]
    assert [(s.model, s.provider) for s in started] == [("backup", "groq")]
    done = response(events)
    assert (done.model, done.provider, done.text) == ("backup", "groq", "Backup here.")
    if down == "failing":
        assert fake.outcomes() == ["error", "error"]  # one try and one retry, then failover
    assert [r.model for r in backup.requests] == ["llama-backup"]


async def test_a_long_retry_after_fails_over_at_once(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.rate_limited(retry_after=3600))
    events = await run(context(), make_deps())
    assert fake.outcomes() == ["error"]
    assert response(events).provider == "groq"


async def test_an_unconfigured_provider_is_skipped(
        backup: FakeModelServer, groq_provider: GroqProvider,
        make_deps: Callable[..., StageDeps]) -> None:
    events = await run(context(), make_deps(providers={"groq": groq_provider}))
    assert response(events).provider == "groq"


async def test_when_every_model_fails_the_answer_is_an_error_naming_each(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.set_default(Reply.failing(500))
    backup.set_default(Reply.failing(401))
    events = await run(context(), make_deps(retries=0))
    [failed] = [e for e in events if isinstance(e, AnswerFailed)]
    assert (failed.code, failed.status, failed.error_type) == (
        "provider_unavailable", 502, "server_error")
    assert "primary: openai: HTTP 500" in failed.message
    assert "backup: groq: HTTP 401: the key was refused" in failed.message
    assert KEY not in failed.message
    assert not [e for e in events if isinstance(e, ResponseCompleted)]


# -- what the client is told ----------------------------------------------------------------


async def test_a_request_the_upstream_refuses_comes_back_as_it_said_once(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.failing(400, "Invalid 'messages[0].content': string too long.",
                            type="invalid_request_error", code="string_above_max_length",
                            param="messages[0].content"))
    board = BreakerBoard(BreakerConfig(failures=1, window_s=60, open_s=30))
    events = await run(context(), make_deps(breakers=board))
    [failed] = [e for e in events if isinstance(e, AnswerFailed)]
    assert (failed.status, failed.code, failed.param, failed.error_type) == (
        400, "string_above_max_length", "messages[0].content", "invalid_request_error")
    assert failed.message == "Invalid 'messages[0].content': string too long."
    # Not retried, not failed over (no model takes a bad request), not held against the
    # provider's health.
    assert len(fake.requests) == 1 and backup.requests == []
    assert board.get("openai").state == "closed"


async def test_a_request_makes_at_most_its_retries_plus_its_models_upstream_calls(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.set_default(Reply.failing(500))
    backup.set_default(Reply.failing(503))
    events = await run(context(), make_deps(retries=2))
    assert len(fake.requests) + len(backup.requests) == 2 + 2  # two models, two retries
    assert len(fake.requests) == 3  # the retries go to the first model that needs them
    [failed] = [e for e in events if isinstance(e, AnswerFailed)]
    assert failed.status == 502


async def test_when_every_upstream_rate_limits_the_answer_is_429_with_when_to_retry(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.set_default(Reply.rate_limited(retry_after=30))
    backup.set_default(Reply.rate_limited(retry_after=12))
    board = BreakerBoard(BreakerConfig(failures=1, window_s=60, open_s=30))
    events = await run(context(), make_deps(breakers=board))
    [failed] = [e for e in events if isinstance(e, AnswerFailed)]
    assert (failed.status, failed.error_type, failed.retry_after_s) == (
        429, "rate_limit_error", 12.0)
    # Longer than RETRY_AFTER_MAX_S (5 here): each failed over at once, one call each.
    assert len(fake.requests) == len(backup.requests) == 1
    assert board.states() == {"openai": "closed", "groq": "closed"}


async def test_when_every_upstream_times_out_the_answer_is_504(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.set_default(Reply.slow(first_token_delay_s=30))
    backup.set_default(Reply.slow(first_token_delay_s=30))
    events = await run(context(), make_deps(retries=0, first_token_timeout_s=0.5))
    [failed] = [e for e in events if isinstance(e, AnswerFailed)]
    assert failed.status == 504


async def test_a_mid_stream_error_keeps_the_upstreams_status_and_type(
        fake: FakeModelServer, make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.erroring(after=3, text=LONG, error={
        "message": "Rate limit reached for tokens", "type": "tokens",
        "code": "rate_limit_exceeded", "status": 429}))
    events = await run(context(), make_deps())
    failed = events[-1]
    assert isinstance(failed, AnswerFailed) and text_of(events).startswith("word0")
    assert (failed.code, failed.status, failed.error_type) == ("provider_error", 429, "tokens")
    assert "Rate limit reached for tokens" in failed.message


# -- the circuit breaker -------------------------------------------------------------------


async def test_the_breaker_opens_skips_the_dead_provider_and_closes_after_a_probe(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    clock = Clock()
    board = BreakerBoard(BreakerConfig(failures=2, window_s=60, open_s=30), clock)
    deps = make_deps(retries=0, first_token_timeout_s=2.0, breakers=board)
    fake.set_default(Reply.slow(first_token_delay_s=60))  # dead: never sends a token
    for status in (400, 429, 401):  # none of these says the provider is unwell
        fake.plan(Reply.failing(status))
        await run(context(request_id=f"q{status}"), deps)
    assert board.get("openai").state == "closed"
    fake.reset()

    for n in (1, 2):  # each waits for the first-token timeout, then fails over
        events = await run(context(request_id=f"r{n}"), deps)
        assert response(events).provider == "groq"
    assert len(fake.requests) == 2
    assert board.get("openai").state == "open"

    started = time.monotonic()
    events = await run(context(request_id="r3"), deps)
    assert response(events).provider == "groq"
    assert len(fake.requests) == 2, "an open circuit must not contact the provider"
    assert time.monotonic() - started < 2.0, "skipping must not wait for the timeout"

    fake.set_default(Reply())  # the provider recovers
    clock.now += 30  # the open period ends: the next request probes
    assert board.get("openai").state == "half_open"
    events = await run(context(request_id="r4"), deps)
    assert response(events).provider == "openai"
    assert board.get("openai").state == "closed"
    assert len(fake.requests) == 3


# -- after the first token -----------------------------------------------------------------


async def test_a_failure_after_the_first_token_ends_the_answer_with_an_error(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.cut(after=3, text=LONG))
    events = await run(context(), make_deps())
    assert text_of(events).startswith("word0 word1 word2")
    assert isinstance(events[-1], AnswerFailed) and events[-1].code == "provider_error"
    assert not backup.requests and len(fake.requests) == 1


async def test_a_failure_after_the_first_token_restarts_on_the_fallback_if_configured(
        fake: FakeModelServer, backup: FakeModelServer,
        make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply.cut(after=3, text=LONG))
    backup.plan(Reply.stream("A fresh answer."))
    events = await run(context(model="restarting"), make_deps())
    started = [e for e in events if isinstance(e, AnswerStarted)]
    assert [(s.model, s.provider) for s in started] == [("restarting", "openai"),
                                                        ("backup", "groq")]
    assert started[0].attempt != started[1].attempt
    finished = [e for e in events if isinstance(e, AnswerFinished)]
    assert finished[0].attempt == started[1].attempt
    done = response(events)
    assert (done.provider, done.text, done.attempt) == ("groq", "A fresh answer.",
                                                        started[1].attempt)
    relayed = RequestStream("r1")
    for e in events:
        if not isinstance(e, ResponseCompleted):
            relayed.add(e)
    names = [s.kind for s in relayed.events]
    assert "restart" in names and names[-1] == "done"
    assert names.index("restart") > names.index("token")


# -- cancel ---------------------------------------------------------------------------------


async def test_cancel_stops_the_answer_and_closes_the_upstream_connection(
        fake: FakeModelServer, make_deps: Callable[..., StageDeps]) -> None:
    fake.plan(Reply(tokens=2000, pace_s=0.01))
    deps = make_deps()
    events: list[Any] = []

    async def consume() -> None:
        async for emit in handle(context(), deps):
            events.append(emit.event)

    task = asyncio.create_task(consume())
    await until(lambda: any(isinstance(e, TokensGenerated) for e in events))
    assert deps.cancels.owns("t", "r1")
    await deps.cancels.on_control(CancelRequested(tenant_id="t", request_id="r1",
                                                  conversation_id="c", user_id="u"))
    await asyncio.wait_for(task, 10)
    await until(lambda: fake.outcomes() == ["disconnected"])
    assert fake.requests[0].chunks_sent < 2000
    assert isinstance(events[-2], AnswerFinished) and events[-2].finish_reason == CANCELLED
    done = response(events)
    assert done.finish_reason == CANCELLED and done.text == text_of(events) != ""
    assert not deps.cancels.owns("t", "r1")


async def test_a_cancel_of_another_tenant_does_not_stop_the_answer(
        fake: FakeModelServer, make_deps: Callable[..., StageDeps]) -> None:
    deps = make_deps()
    await deps.cancels.on_control(CancelRequested(tenant_id="other", request_id="r1",
                                                  conversation_id="c", user_id="u"))
    events = await run(context(), deps)
    assert response(events).finish_reason == "stop"


async def test_a_request_cancelled_before_it_starts_never_reaches_the_model(
        fake: FakeModelServer, make_deps: Callable[..., StageDeps]) -> None:
    deps = make_deps()
    await deps.cancels.on_control(CancelRequested(tenant_id="t", request_id="r1",
                                                  conversation_id="c", user_id="u"))
    events = await run(context(), deps)
    assert response(events).finish_reason == CANCELLED
    assert not [e for e in events if isinstance(e, TokensGenerated)]
    await asyncio.sleep(0.1)
    assert fake.requests == []
