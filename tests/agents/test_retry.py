"""Backoff with full jitter, and Retry-After honoured unless longer than failing over."""

from __future__ import annotations

from dataclasses import replace

from agents.inference.retry import RetryPolicy
from kernel.settings import Settings


def test_backoff_grows_exponentially_with_full_jitter_up_to_a_cap() -> None:
    policy = replace(RetryPolicy.of(Settings.defaults()), backoff_s=0.5, max_backoff_s=3.0)
    for retry, cap in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)):
        delays = [policy.delay(retry) for _ in range(200)]
        assert all(d is not None and 0 <= d <= cap for d in delays)
        assert max(d for d in delays if d is not None) > cap / 2  # jitter spans the range


def test_retry_after_is_honoured_or_means_fail_over_now() -> None:
    policy = replace(RetryPolicy.of(Settings.defaults()), retry_after_max_s=20)
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=120) is None
