"""Rates of the requests that are cheap to ask and cost the edge to answer: reading an
answer's stream (an unknown one is searched for in the log), cancelling one (a control
event published), refreshing a token (a store read and write). Counted per caller on
each edge, before any of that work, with a token bucket: ``per_minute`` at once, then
one more every ``60 / per_minute`` seconds; past it 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ("RouteThrottle", "Throttle")


class Throttle:
    """Token buckets by key, at most ``max_keys`` of them (the least recently used go
    first: a bucket left alone refills anyway)."""

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> int | None:
        """None when ``key`` may go on (one token taken); else the seconds to wait."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.pop(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1.0 - tokens) / self._rate))


@dataclass(frozen=True)
class RouteThrottle:
    """A throttle for the requests of one route: ``method`` and a ``path`` pattern (a
    regular expression matched whole), keyed by the caller (``by_user``: its tenant and
    user, else its address)."""

    name: str
    method: str
    path: str
    throttle: Throttle
    by_user: bool = True
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", re.compile(self.path))

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self._pattern.fullmatch(path) is not None
