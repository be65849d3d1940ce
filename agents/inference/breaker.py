"""Circuit breakers, one per provider, shared by every request of a worker.

closed ──N failures within the window──▶ open ──after open_s──▶ half-open
   ▲                                        ▲                       │ one probe request
   └──────────── the probe succeeds ────────┴──── the probe fails ──┘

While open, requests skip the provider at once instead of waiting for its timeout;
while half-open, only the probe may try it.

The breaker is shared by every tenant, so one tenant's requests alone must not open it for
all: failures of a single tenant count only while no other tenant has tried the provider
within the window (then nobody else can tell it works). What the router reports as a
failure is the provider's health only (5xx, timeouts, broken streams): a request the
upstream refused, a refused key or a 429 say nothing about it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kernel.settings import Settings
from kernel.telemetry.metrics import BREAKER_STATE

__all__ = ("BreakerBoard", "BreakerConfig", "CircuitBreaker")

log = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]
_GAUGE = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class BreakerConfig:
    failures: int
    window_s: float
    open_s: float

    @classmethod
    def of(cls, settings: Settings) -> BreakerConfig:
        return cls(failures=settings.breaker_failures, window_s=settings.breaker_window_s,
                   open_s=settings.breaker_open_s)


class CircuitBreaker:
    def __init__(self, name: str, config: BreakerConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._config = config
        self._clock = clock
        self._state: State = "closed"
        self._failures: deque[tuple[float, str]] = deque()
        # When each tenant last tried the provider (kept for the window only).
        self._tried: dict[str, float] = {}
        self._opened_at = 0.0
        self._probing = False
        BREAKER_STATE.labels(name).set(0)

    @property
    def state(self) -> State:
        state: State = self._state
        if state == "open" and self._clock() - self._opened_at >= self._config.open_s:
            state = "half_open"
        BREAKER_STATE.labels(self.name).set(_GAUGE[state])
        return state

    def reopens_in(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when it is not open)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self._config.open_s - (self._clock() - self._opened_at))

    def allow(self, tenant: str = "") -> bool:
        """Whether a request of ``tenant`` may try the provider now. A True in half-open
        state makes the caller the probe: it must report :meth:`success`, :meth:`failure`
        or :meth:`release`."""
        now = self._clock()
        self._tried[tenant] = now
        if len(self._tried) > 64:  # forget tenants outside the window
            self._tried = {t: at for t, at in self._tried.items()
                           if now - at <= self._config.window_s}
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        if self._state == "open":  # the open period just ended
            self._state, self._probing = "half_open", False
            log.info("circuit of %s half-open: probing", self.name)
        if self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        if self._state != "closed":
            log.warning("circuit of %s closed: the probe succeeded", self.name)
        self._state, self._probing = "closed", False
        self._failures.clear()
        BREAKER_STATE.labels(self.name).set(0)

    def failure(self, tenant: str = "") -> None:
        now = self._clock()
        if self._state == "half_open":
            self._open(now, "the probe failed")
            return
        if self._state == "open":
            return  # a request that started before the circuit opened
        window = self._config.window_s
        self._failures.append((now, tenant))
        while self._failures and now - self._failures[0][0] > window:
            self._failures.popleft()
        if len(self._failures) < self._config.failures:
            return
        failing = {t for _, t in self._failures}
        others = [t for t, at in self._tried.items()
                  if t not in failing and now - at <= window]
        if len(failing) == 1 and others:
            return  # one tenant's failures while others use the provider: theirs alone
        self._open(now, f"{len(self._failures)} failures in {window:g}s")

    def release(self) -> None:
        """The request ended with no verdict on the provider (cancelled, or an error
        that says nothing about its health): let another request probe."""
        self._probing = False

    def _open(self, now: float, why: str) -> None:
        self._state, self._opened_at, self._probing = "open", now, False
        self._failures.clear()
        BREAKER_STATE.labels(self.name).set(2)
        log.warning("circuit of %s open for %gs: %s", self.name, self._config.open_s, why)


class BreakerBoard:
    """The breakers of one worker, made on first use."""

    def __init__(self, config: BreakerConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, provider: str) -> CircuitBreaker:
        found = self._breakers.get(provider)
        if found is None:
            found = self._breakers[provider] = CircuitBreaker(provider, self._config,
                                                              self._clock)
        return found

    def states(self) -> dict[str, State]:
        return {name: b.state for name, b in self._breakers.items()}
