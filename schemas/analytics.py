"""HTTP bodies of the analytics summary (GET /v1/analytics/summary)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ("AnalyticsSummary", "AssistantSummary", "WindowSummary")


class AssistantSummary(BaseModel):
    """One assistant version's turns in a window."""

    messages: int = 0
    responses: int = 0
    tokens: int = 0
    scored: int = 0
    mean_quality: float | None = None


class WindowSummary(BaseModel):
    start: datetime
    messages: int = 0
    responses: int = 0
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scored: int = 0
    mean_quality: float | None = None
    intents: dict[str, int] = Field(default_factory=dict)
    sentiments: dict[str, int] = Field(default_factory=dict)
    leads: int = Field(0, description="scored turns with a lead score at or above "
                       "lead_threshold")
    p95_ttft_ms: dict[str, float] = Field(default_factory=dict,
                                          description="p95 time to first token by model")
    assistants: dict[str, AssistantSummary] = Field(
        default_factory=dict, description="the turns each assistant version answered, "
        "by `name@version`")


class AnalyticsSummary(BaseModel):
    tenant_id: str
    group: str = Field(description="the analytics consumer group the numbers come from")
    granularity: Literal["minutes", "hours"]
    lead_threshold: float | None = None
    partitions: int = Field(0, description="chat-topic partitions reporting for the tenant")
    windows: list[WindowSummary]
    totals: WindowSummary | None = None
