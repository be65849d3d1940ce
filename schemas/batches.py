"""HTTP bodies of batch jobs (/v1/batches)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ("BatchCreate", "BatchOut", "BatchResult")


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: list[str] = Field(min_length=1, description="at most BATCH_MAX_PROMPTS")
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class BatchOut(BaseModel):
    id: str
    status: Literal["queued", "running", "completed", "cancelled"]
    model: str
    total: int
    completed: int = Field(description="prompts answered so far")
    created_at: datetime
    results_url: str


class BatchResult(BaseModel):
    """One line of the results (JSON Lines), in prompt order."""

    index: int
    prompt: str
    request_id: str
    text: str
    model: str
    finish_reason: str
    usage: dict[str, int]
