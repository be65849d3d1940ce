"""OpenAI and every OpenAI-compatible endpoint (OpenRouter, vLLM, Ollama, Gemini's and
Anthropic's compatibility endpoints), through the official ``openai`` SDK."""

from __future__ import annotations

from typing import Any

import httpx2
import openai

from agents.providers.base import Prompt
from agents.providers.sdk import SdkProvider
from schemas.catalogue import ModelSpec

__all__ = ("OpenAIProvider",)


class OpenAIProvider(SdkProvider):
    def __init__(self, name: str, *, base_url: str, api_key: str | None,
                 timeout_s: float = 60.0) -> None:
        if name == "openai":
            self._limit_name = "max_completion_tokens"
        # Local servers (vLLM, Ollama) take no key, but the SDK insists on one.
        key = api_key or "unused"
        client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0,
                                    timeout=timeout_s)
        super().__init__(name, sdk=openai, http=httpx2, client=client, timeout_s=timeout_s,
                         secret=api_key)

    def _open(self, model: ModelSpec, prompt: Prompt,
              messages: list[dict[str, Any]]) -> Any:
        return self._client.chat.completions.with_streaming_response.create(
            model=model.upstream, messages=messages, stream=True,
            stream_options={"include_usage": True}, timeout=self._timeout_s,
            **self._sampling(prompt))
