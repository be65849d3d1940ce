"""HTTP bodies of ``/v1/memories``: a user's long-term memory and its switches."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ("MemoryIn", "MemoryList", "MemoryOut", "MemorySwitch", "TenantMemorySwitch")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryIn(_In):
    text: str = Field(min_length=1, max_length=300, description="a short fact about you")


class MemoryOut(BaseModel):
    id: str
    text: str
    origin: Literal["extracted", "user"]
    created_at: datetime
    updated_at: datetime
    source_conversation_id: str | None = None
    source_message_id: str | None = None


class MemoryList(BaseModel):
    data: list[MemoryOut]
    paused: bool = Field(description="the caller paused memory: nothing is recalled or kept")
    enabled: bool = Field(description="memory is on for the tenant (its admins decide)")


class MemorySwitch(_In):
    paused: bool


class TenantMemorySwitch(_In):
    enabled: bool
