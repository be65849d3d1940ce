"""When to try a provider again: exponential backoff with full jitter, or the provider's
own ``Retry-After`` when it gives one (unless that is longer than failing over)."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ("RetryPolicy",)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    retry_after_max_s: float = 20.0
    first_token_timeout_s: float = 30.0

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number ``retry`` (from 1); None: do not wait,
        fail over now (the provider asked for a longer pause than is worth waiting)."""
        if retry_after is not None:
            return None if retry_after > self.retry_after_max_s else retry_after
        # Full jitter: workers that failed together do not retry together.
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** (retry - 1)))
