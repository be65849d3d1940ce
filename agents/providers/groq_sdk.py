"""Groq, through the official ``groq`` SDK."""

from __future__ import annotations

from typing import Any

import groq
import httpx

from agents.providers.base import Prompt
from agents.providers.sdk import SdkProvider
from schemas.catalogue import ModelSpec

__all__ = ("GroqProvider",)


class GroqProvider(SdkProvider):
    def __init__(self, *, base_url: str, api_key: str, timeout_s: float = 60.0,
                 name: str = "groq") -> None:
        client = groq.AsyncGroq(api_key=api_key, base_url=base_url, max_retries=0,
                                timeout=timeout_s)
        super().__init__(name, sdk=groq, http=httpx, client=client, timeout_s=timeout_s,
                         secret=api_key)

    def _open(self, model: ModelSpec, prompt: Prompt,
              messages: list[dict[str, Any]]) -> Any:
        # Groq reports usage in the last chunk's `x_groq` extension.
        return self._client.chat.completions.with_streaming_response.create(
            model=model.upstream, messages=messages, stream=True, timeout=self._timeout_s,
            **self._sampling(prompt))
