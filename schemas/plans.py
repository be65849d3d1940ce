"""The catalogue of plans: what a tenant may use each month and each user each minute."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ("DEFAULT_PLANS", "Plan")


class Plan(BaseModel):
    """Limits of one plan; ``None`` means unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages_per_month: int | None = Field(None, ge=0)
    tokens_per_month: int | None = Field(None, ge=0)
    documents_per_month: int | None = Field(None, ge=0)
    files_per_request: int | None = Field(None, ge=0)
    requests_per_minute: int | None = Field(None, ge=0)


DEFAULT_PLANS: dict[str, Plan] = {
    "free": Plan(messages_per_month=1_000, tokens_per_month=500_000, documents_per_month=20,
                 files_per_request=1, requests_per_minute=20),
    "pro": Plan(messages_per_month=50_000, tokens_per_month=25_000_000,
                documents_per_month=2_000, files_per_request=10, requests_per_minute=120),
}
