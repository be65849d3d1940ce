"""When to try a provider again: exponential backoff with full jitter, or the provider's
own ``Retry-After`` when it gives one (unless that is longer than failing over)."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.backoff import full_jitter
from kernel.settings import Settings

__all__ = ("RetryPolicy",)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int
    backoff_s: float
    max_backoff_s: float
    retry_after_max_s: float
    first_token_timeout_s: float

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(retries=settings.provider_retries, backoff_s=settings.retry_backoff_s,
                   max_backoff_s=settings.retry_max_backoff_s,
                   retry_after_max_s=settings.retry_after_max_s,
                   first_token_timeout_s=settings.first_token_timeout_s)

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number ``retry`` (from 1); None: do not wait,
        fail over now (the provider asked for a longer pause than is worth waiting)."""
        if retry_after is not None:
            return None if retry_after > self.retry_after_max_s else retry_after
        return full_jitter(retry, self.backoff_s, self.max_backoff_s)
