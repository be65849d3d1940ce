"""The model router: tries a fallback chain of models, each with retries, behind its
provider's circuit breaker, and streams the first that answers.

Before the first token a failure is invisible to the client: the provider is retried
(429, 5xx, timeouts, dropped connections, malformed chunks), then the next model of the
chain is tried. After the first token the answer has been seen, so a failure either ends
it (the error reaches the client) or, for models with ``restart_on_failure``, restarts it
on the next model of the chain, which the client sees as a ``restart`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from agents.inference.breaker import BreakerBoard, CircuitBreaker
from agents.inference.retry import RetryPolicy
from agents.providers.base import ChatProvider, Delta, Prompt
from kernel.errors import ProviderError, ProvidersExhausted
from kernel.telemetry.metrics import FAILOVERS, PROVIDER_RETRIES
from schemas.catalogue import ModelSpec

__all__ = ("ModelRouter", "PromptFor", "Served")

log = logging.getLogger(__name__)

PromptFor = Callable[[ModelSpec, ChatProvider], Awaitable[Prompt]]
"""Builds the prompt for one model of the chain (each has its own context window)."""


@dataclass(frozen=True)
class Served:
    """Marks the start of a model's answer in the router's stream: the deltas after it
    are that model's. ``restart``: an earlier model's partial answer is void."""

    model: ModelSpec
    provider: str
    restart: bool = False


@dataclass
class _Opened:
    first: Delta
    rest: AsyncIterator[Delta]


async def _close(it: AsyncIterator[Delta]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


class ModelRouter:
    def __init__(self, providers: Mapping[str, ChatProvider], breakers: BreakerBoard,
                 policy: RetryPolicy,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._providers = providers
        self._breakers = breakers
        self._policy = policy
        self._sleep = sleep

    async def stream(self, chain: Sequence[ModelSpec], prompt_for: PromptFor, *,
                     restart_on_failure: bool = False) -> AsyncIterator[Served | Delta]:
        """``Served`` then that model's deltas; raises :class:`ProvidersExhausted` when no
        model of the chain answered, :class:`ProviderError` when one failed mid-answer."""
        failures: list[str] = []
        restarting = False
        for spec in chain:
            key = spec.provider_key
            provider = self._providers.get(key)
            if provider is None:
                failures.append(f"{spec.name}: provider {key} is not configured")
                continue
            breaker = self._breakers.get(key)
            opened = await self._open(spec, provider, breaker, prompt_for, failures)
            if opened is None:
                FAILOVERS.labels(spec.name, key).inc()
                continue
            yield Served(spec, key, restart=restarting)
            try:
                yield opened.first
                async for delta in opened.rest:
                    yield delta
                return
            except ProviderError as exc:
                if exc.retryable:
                    breaker.failure()
                log.warning("%s via %s failed mid-answer: %s", spec.name, key, exc)
                if not restart_on_failure:
                    raise
                failures.append(f"{spec.name}: failed mid-answer ({exc})")
                FAILOVERS.labels(spec.name, key).inc()
                restarting = True
            finally:
                await _close(opened.rest)
        raise ProvidersExhausted(failures)

    async def _open(self, spec: ModelSpec, provider: ChatProvider, breaker: CircuitBreaker,
                    prompt_for: PromptFor, failures: list[str]) -> _Opened | None:
        """The model's first delta and the rest of its stream, after retries; None when
        it is skipped or failed (the reason is added to ``failures``)."""
        policy = self._policy
        prompt: Prompt | None = None
        for attempt in range(policy.retries + 1):
            if not breaker.allow():
                failures.append(f"{spec.name}: circuit of {breaker.name} is open")
                return None
            verdict = False
            it: AsyncIterator[Delta] | None = None
            try:
                if prompt is None:
                    prompt = await prompt_for(spec, provider)
                it = provider.stream(spec, prompt).__aiter__()
                async with asyncio.timeout(policy.first_token_timeout_s):
                    first = await anext(it)
            except TimeoutError:
                error = ProviderError(breaker.name, "no first token within "
                                      f"{policy.first_token_timeout_s:g}s", retryable=True)
            except StopAsyncIteration:
                error = ProviderError(breaker.name, "empty stream", retryable=True)
            except ProviderError as exc:
                error = exc
            else:
                verdict = True
                breaker.success()
                return _Opened(first, it)
            finally:
                if not verdict:
                    if it is not None:
                        await _close(it)
                    # Cancelled or failed: the breaker hears about failures just below.
                    breaker.release()
            if error.retryable:
                breaker.failure()
            tries = f"{attempt + 1} tr{'y' if attempt == 0 else 'ies'}"
            if not error.retryable or attempt == policy.retries:
                failures.append(f"{spec.name}: {error} ({tries})")
                return None
            delay = policy.delay(attempt + 1, error.retry_after)
            if delay is None:
                failures.append(f"{spec.name}: {error}; asked to wait {error.retry_after:g}s")
                return None
            log.info("%s via %s: %s; retry %d in %.2fs", spec.name, breaker.name, error,
                     attempt + 1, delay)
            PROVIDER_RETRIES.labels(breaker.name).inc()
            await self._sleep(delay)
        return None  # pragma: no cover - the loop always returns
