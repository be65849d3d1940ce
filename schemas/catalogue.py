"""The model catalogue: public model names and how to reach them.

Keys and base URLs are never in the catalogue: an ``openai-compatible`` model names an
endpoint, and the endpoint's base URL and key come from settings.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ("OFFLINE", "PROVIDERS", "Catalogue", "ModelSpec")

PROVIDERS = ("extractive", "llama-cpp", "openai", "groq", "openai-compatible")
OFFLINE = frozenset({"extractive", "llama-cpp"})
"""Providers that run in the worker's process: no network, no key."""


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    provider: Literal["extractive", "llama-cpp", "openai", "groq", "openai-compatible"]
    """``extractive``: quotes sentences of the passages and the conversation (no weights);
    ``llama-cpp``: a GGUF model run in process by llama.cpp (``upstream``: the file, an
    absolute path or ``package/file.gguf`` inside an installed package)."""
    upstream: str = Field(min_length=1)
    endpoint: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """For ``openai-compatible``: the endpoint's name in the ENDPOINTS setting."""
    context_window: int = Field(8192, gt=0)
    tier: Literal["free", "pro"] = "free"
    fallbacks: tuple[str, ...] = ()
    restart_on_failure: bool = False
    """After the first token, a failure restarts the answer on the next model in the
    chain (the client sees a ``restart`` event) instead of ending it with an error."""
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _old_provider_name(cls, data: Any) -> Any:
        # `local` was the extractive model's provider before small language models ran
        # in process too; catalogues written then keep working.
        if isinstance(data, dict) and data.get("provider") == "local":
            return {**data, "provider": "extractive"}
        return data

    @model_validator(mode="after")
    def _endpoint_matches_provider(self) -> ModelSpec:
        if self.provider == "openai-compatible" and not self.endpoint:
            raise ValueError("an openai-compatible model needs `endpoint: NAME`, whose "
                             "base URL and key are in the ENDPOINTS setting")
        if self.provider != "openai-compatible" and self.endpoint:
            raise ValueError(f"`endpoint` is only for openai-compatible models, not "
                             f"{self.provider}")
        if self.endpoint in ("local", *PROVIDERS):
            raise ValueError(f"endpoint name {self.endpoint!r} is reserved")
        return self

    @property
    def offline(self) -> bool:
        return self.provider in OFFLINE

    @property
    def provider_key(self) -> str:
        """The provider that serves this model: ``openai``, ``groq``, ``extractive``,
        ``llama-cpp`` or the
        name of an openai-compatible endpoint. Circuit breakers are per provider key."""
        return self.endpoint if self.provider == "openai-compatible" and self.endpoint \
            else self.provider


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

    def chain(self, name: str) -> tuple[ModelSpec, ...]:
        """The model, then its fallbacks in their order, then theirs (breadth first),
        each once: the order in which failover tries them."""
        out: list[ModelSpec] = []
        seen: set[str] = set()
        queue = deque([name])
        while queue:
            n = queue.popleft()
            m = self.get(n)
            if m is None or n in seen:
                continue
            seen.add(n)
            out.append(m)
            queue.extend(m.fallbacks)
        return tuple(out)
