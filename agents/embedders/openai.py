"""Embeddings from any OpenAI-compatible endpoint, through the official ``openai`` SDK:
OpenAI itself (text-embedding-3-small by default), or vLLM, Ollama, LiteLLM... by base URL.
"""

from __future__ import annotations

from collections.abc import Sequence

import openai

from kernel.errors import ProviderError

__all__ = ("OpenAIEmbedder",)


class OpenAIEmbedder:
    """Satisfies ``Embedder``. Texts go in batches of ``batch_size`` per request."""

    def __init__(self, model: str = "text-embedding-3-small", *, api_key: str,
                 base_url: str | None = None, batch_size: int = 64, timeout_s: float = 60.0,
                 max_retries: int = 2) -> None:
        self._model = model
        self._batch_size = batch_size
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url or None,
                                          timeout=timeout_s, max_retries=max_retries)

    @property
    def space(self) -> str:
        return f"openai-{self._model}"

    async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start:start + self._batch_size])
            try:
                response = await self._client.embeddings.create(
                    model=self._model, input=batch, encoding_format="float")
            except (openai.APIConnectionError, openai.RateLimitError,
                    openai.InternalServerError) as exc:
                raise ProviderError("embeddings", f"{self._model}: {exc}",
                                    retryable=True) from exc
            except openai.OpenAIError as exc:
                raise ProviderError("embeddings", f"{self._model}: {exc}") from exc
            data = sorted(response.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise ProviderError("embeddings", f"{self._model}: asked for {len(batch)} "
                                    f"vectors, got {len(data)}")
            vectors.extend([float(x) for x in d.embedding] for d in data)
        return vectors

    async def close(self) -> None:
        await self._client.close()
