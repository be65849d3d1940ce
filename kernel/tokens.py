"""Token counts estimated from text, for usage, budgets and metering."""

from __future__ import annotations

__all__ = ("estimate_tokens",)


def estimate_tokens(text: str) -> int:
    # About four characters a token for English; close enough for usage and budgets.
    # (tiktoken would need its BPE files downloaded at run time, which an offline worker
    # cannot do; providers report their own counts in usage when they stream.)
    return max(1, (len(text) + 3) // 4) if text else 0
