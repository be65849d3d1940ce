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

# The offline model is deterministic and extractive: sampling options change nothing,
# which is what a seed asks for anyway; it honours max_tokens and stop itself.
_OFFLINE_OPTIONS = frozenset({"max_tokens", "temperature", "top_p", "seed", "stop", "user"})
# llama.cpp samples: it honours these as well (agents/providers/llama_cpp.py).
_LLAMA_OPTIONS = _OFFLINE_OPTIONS | {"presence_penalty", "frequency_penalty"}
# Groq's API answers 400 for these (its OpenAI-compatibility notes).
_GROQ_REFUSES = frozenset({"logit_bias"})


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
    tools: bool | None = None
    """Whether the model calls tools; unset: every hosted model does, the offline one
    not. A request with ``tools`` for a model without them is refused (400)."""
    vision: bool = False
    """Whether the model reads images (``image_url`` content parts)."""
    json_mode: bool | None = None
    """Whether the model honours ``response_format``; unset: hosted models do."""
    unsupported: tuple[str, ...] = ()
    """Request options the upstream refuses (e.g. ``logit_bias``), refused by chatstream
    with a 400 naming the option instead of failing upstream. Groq models refuse
    ``logit_bias`` unless the catalogue says otherwise."""

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

    def supports(self, option: str) -> bool:
        """Whether a request may set generation option ``option`` (see
        :class:`schemas.options.GenerationOptions`) for this model."""
        if option in self.unsupported:
            return False
        if option in ("tools", "tool_choice", "parallel_tool_calls"):
            return self.tools if self.tools is not None else not self.offline
        if option == "response_format":
            return self.json_mode if self.json_mode is not None else not self.offline
        if self.provider == "llama-cpp":
            return option in _LLAMA_OPTIONS
        if self.offline:
            return option in _OFFLINE_OPTIONS
        return not (self.provider == "groq" and option in _GROQ_REFUSES)

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
