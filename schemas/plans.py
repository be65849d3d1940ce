"""The catalogue of plans: what a tenant may use each month and each user each minute."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ("DEFAULT_PLANS", "MONTH_TTL_S", "Plan", "minute_window", "month_window")

# Monthly counters outlive their month a little, for GET /v1/usage near its end.
MONTH_TTL_S = 40 * 86400


class Plan(BaseModel):
    """Limits of one plan; ``None`` means unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages_per_month: int | None = Field(None, ge=0)
    tokens_per_month: int | None = Field(None, ge=0)
    documents_per_month: int | None = Field(None, ge=0)
    files_per_request: int | None = Field(None, ge=0)
    requests_per_minute: int | None = Field(None, ge=0)
    web_searches_per_month: int | None = Field(None, ge=0)


DEFAULT_PLANS: dict[str, Plan] = {
    "free": Plan(messages_per_month=1_000, tokens_per_month=500_000, documents_per_month=20,
                 files_per_request=1, requests_per_minute=20, web_searches_per_month=100),
    "pro": Plan(messages_per_month=50_000, tokens_per_month=25_000_000,
                documents_per_month=2_000, files_per_request=10, requests_per_minute=120,
                web_searches_per_month=5_000),
}


def minute_window(now: float | None = None) -> tuple[str, int]:
    """The current calendar minute's name and the seconds until it ends."""
    now = time.time() if now is None else now
    return f"m{int(now // 60)}", max(1, 60 - int(now % 60))


def month_window(now: float | None = None) -> tuple[str, int]:
    """The current calendar month (UTC) as ``YYYY-MM`` and the seconds until it ends."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    nxt = (datetime(moment.year + 1, 1, 1, tzinfo=UTC) if moment.month == 12
           else datetime(moment.year, moment.month + 1, 1, tzinfo=UTC))
    return moment.strftime("%Y-%m"), max(1, int((nxt - moment).total_seconds()))
