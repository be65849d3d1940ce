"""Exponential backoff with full jitter: the one way chatstream waits before trying
again, so workers that failed together do not retry together."""

from __future__ import annotations

import random

__all__ = ("full_jitter",)


def full_jitter(attempt: int, first_s: float, max_s: float) -> float:
    """Seconds to wait before try ``attempt`` (1 for the first retry): anywhere from
    nothing to ``first_s`` doubled per earlier retry, at most ``max_s``."""
    return random.uniform(0, min(max_s, first_s * 2 ** (attempt - 1)))
