"""The model router: tries a fallback chain of models, behind each provider's circuit
breaker, and streams the first that answers.

Before the first token a failure is invisible to the client: a failure worth another try
(5xx, 429, timeouts, dropped connections, malformed chunks) is retried, then the next model
of the chain is tried. The retries are the request's, not each model's: one request makes
at most ``retries`` + the models of its chain upstream calls, however they fail. A request
the upstream refused (a 4xx other than 401/403/404/408/409/429) is neither retried nor
failed over: no model takes a bad request, and the client is told what the upstream said.

After the first token the answer has been seen, so a failure either ends it (the error
reaches the client) or, for models with ``restart_on_failure``, restarts it on the next
model of the chain, which the client sees as a ``restart`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from agents.inference.breaker import BreakerBoard, CircuitBreaker
from agents.inference.retry import RetryPolicy
from agents.providers.base import ChatProvider, Delta, Prompt
from kernel.errors import ProviderError, ProvidersExhausted
from kernel.telemetry.metrics import FAILOVERS, PROVIDER_RETRIES
from schemas.catalogue import ModelSpec

__all__ = ("ModelRouter", "PromptFor", "Served", "TooLong", "refused")

log = logging.getLogger(__name__)

PromptFor = Callable[[ModelSpec, ChatProvider], Awaitable[Prompt]]
"""Builds the prompt for one model of the chain (each has its own context window)."""

# 4xx statuses that are not about the request itself: a refused key or an unknown upstream
# model (the catalogue's), a timeout, a conflict the SDKs retry, a rate limit.
_NOT_THE_REQUEST = frozenset({401, 403, 404, 408, 409, 429})


def refused(error: ProviderError) -> bool:
    """Whether the upstream refused the request itself: the client must change it."""
    status = error.status
    return status is not None and 400 <= status < 500 and status not in _NOT_THE_REQUEST


def _unhealthy(error: ProviderError) -> bool:
    """Whether a failure says the provider is unwell (what its breaker counts)."""
    return error.retryable and error.status != 429


class TooLong(ProviderError):
    """The request does not fit a model's context window: the next model may take it."""


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


@dataclass
class _Tally:
    """What happened to a request's upstream calls: the retries it has left, and how each
    model failed, from which the client's status follows."""

    retries: int
    notes: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    retry_after: float | None = None

    def note(self, text: str, kind: str, retry_after: float | None = None) -> None:
        self.notes.append(text)
        self.kinds.add(kind)
        if retry_after is not None:
            self.retry_after = retry_after if self.retry_after is None \
                else min(self.retry_after, retry_after)

    def exhausted(self) -> ProvidersExhausted:
        # The most telling failure decides: an upstream that failed (502), one that timed
        # out (504), every upstream asking to slow down (429), a request no model's window
        # takes (400), nothing that could be tried (503).
        statuses = [status for kind, status in (("failed", 502), ("timeout", 504),
                                                ("rate_limited", 429), ("too_long", 400))
                    if kind in self.kinds]
        status = statuses[0] if statuses else 503
        wait = self.retry_after if status in (429, 503) else None
        return ProvidersExhausted(self.notes, status=status, retry_after=wait)


async def _close(it: AsyncIterator[Delta]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


class ModelRouter:
    def __init__(self, providers: Mapping[str, ChatProvider], breakers: BreakerBoard,
                 policy: RetryPolicy, tenant: str = "",
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._providers = providers
        self._breakers = breakers
        self._policy = policy
        self._tenant = tenant
        self._sleep = sleep
        self.calls = 0
        """Upstream calls made for the answer so far (summaries are counted apart)."""

    async def stream(self, chain: Sequence[ModelSpec], prompt_for: PromptFor, *,
                     restart_on_failure: bool = False) -> AsyncIterator[Served | Delta]:
        """``Served`` then that model's deltas. Raises :class:`ProvidersExhausted` when no
        model of the chain answered, the upstream's :class:`ProviderError` when it refused
        the request (see :func:`refused`) or when a model failed mid-answer."""
        tally = _Tally(retries=self._policy.retries)
        restarting = False
        for spec in chain:
            key = spec.provider_key
            provider = self._providers.get(key)
            if provider is None:
                tally.note(f"{spec.name}: provider {key} is not configured", "skipped")
                continue
            breaker = self._breakers.get(key)
            opened = await self._open(spec, provider, breaker, prompt_for, tally)
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
                if _unhealthy(exc):
                    breaker.failure(self._tenant)
                log.warning("%s via %s failed mid-answer: %s", spec.name, key, exc)
                if not restart_on_failure:
                    raise
                tally.note(f"{spec.name}: failed mid-answer ({exc})", "failed")
                FAILOVERS.labels(spec.name, key).inc()
                restarting = True
            finally:
                await _close(opened.rest)
        raise tally.exhausted()

    async def _open(self, spec: ModelSpec, provider: ChatProvider, breaker: CircuitBreaker,
                    prompt_for: PromptFor, tally: _Tally) -> _Opened | None:
        """The model's first delta and the rest of its stream, after retries; None when
        it is skipped or failed (the reason is in ``tally``)."""
        policy = self._policy
        try:
            prompt = await prompt_for(spec, provider)
        except TooLong as exc:
            tally.note(f"{spec.name}: {exc}", "too_long")
            return None
        tries = 0
        while True:
            if not breaker.allow(self._tenant):
                tally.note(f"{spec.name}: circuit of {breaker.name} is open", "skipped",
                           breaker.reopens_in() or None)
                return None
            error = await self._try(provider, spec, prompt, breaker)
            if isinstance(error, _Opened):
                return error
            tries += 1
            if _unhealthy(error):
                breaker.failure(self._tenant)
            if refused(error):
                raise error
            kind = "timeout" if error.timeout else "rate_limited" \
                if error.status == 429 else "failed"
            said = f"{spec.name}: {error} ({tries} tr{'y' if tries == 1 else 'ies'})"
            if not error.retryable or tally.retries == 0:
                tally.note(said, kind, error.retry_after)
                return None
            delay = policy.delay(tries, error.retry_after)
            if delay is None:
                tally.note(f"{spec.name}: {error}; asked to wait {error.retry_after:g}s",
                           kind, error.retry_after)
                return None
            tally.retries -= 1
            log.info("%s via %s: %s; retry %d in %.2fs", spec.name, breaker.name, error,
                     tries, delay)
            PROVIDER_RETRIES.labels(breaker.name).inc()
            await self._sleep(delay)

    async def _try(self, provider: ChatProvider, spec: ModelSpec, prompt: Prompt,
                   breaker: CircuitBreaker) -> _Opened | ProviderError:
        """One upstream call, up to its first delta."""
        policy = self._policy
        verdict = False
        it: AsyncIterator[Delta] | None = None
        self.calls += 1
        try:
            it = provider.stream(spec, prompt).__aiter__()
            async with asyncio.timeout(policy.first_token_timeout_s):
                first = await anext(it)
        except TimeoutError:
            return ProviderError(breaker.name, "no first token within "
                                 f"{policy.first_token_timeout_s:g}s", retryable=True,
                                 timeout=True)
        except StopAsyncIteration:
            return ProviderError(breaker.name, "empty stream", retryable=True)
        except ProviderError as exc:
            return exc
        else:
            verdict = True
            breaker.success()
            return _Opened(first, it)
        finally:
            if not verdict:
                if it is not None:
                    await _close(it)
                # Cancelled or failed: the caller tells the breaker about failures.
                breaker.release()
