"""The model catalogue: public model names and how to reach them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ("Catalogue", "ModelSpec")


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    provider: Literal["local", "openai", "groq", "openai-compatible"]
    upstream: str
    context_window: int = Field(8192, gt=0)
    tier: Literal["free", "pro"] = "free"
    fallbacks: tuple[str, ...] = ()
    description: str = ""

    @property
    def offline(self) -> bool:
        return self.provider == "local"


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    models: tuple[ModelSpec, ...]

    def get(self, name: str) -> ModelSpec | None:
        for m in self.models:
            if m.name == name:
                return m
        return None

    def names(self) -> list[str]:
        return [m.name for m in self.models]
