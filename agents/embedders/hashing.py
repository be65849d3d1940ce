"""The offline embedder: signed feature hashing of words and word pairs.

Each text becomes a bag of features: its content words (lower-cased, stopwords dropped,
light suffix stripping) and each pair of neighbouring content words. Every feature is
hashed (BLAKE2b) to one of ``dimensions`` slots with a sign, weighted by ``1 + ln(count)``
(pairs at half weight), and the vector is scaled to unit length.

No download, no GPU, deterministic across processes and machines. It is a lexical
method: a question finds passages that share its words, and misses passages that say
the same thing in other words. docs/benchmarks.md measures it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from stores.vectors.text import content_words

__all__ = ("HashingEmbedder",)

_PAIR_WEIGHT = 0.5


class HashingEmbedder:
    """Satisfies ``Embedder``."""

    def __init__(self, dimensions: int = 1024) -> None:
        if dimensions < 16:
            raise ValueError("dimensions must be at least 16")
        self._dimensions = dimensions

    @property
    def space(self) -> str:
        return f"hashing-v1-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed_one(self, text: str) -> list[float]:
        tokens = content_words(text)
        features: Counter[str] = Counter(tokens)
        pairs: Counter[str] = Counter(f"{a} {b}" for a, b in itertools.pairwise(tokens))
        vector = np.zeros(self._dimensions, dtype=np.float64)
        for bag, weight in ((features, 1.0), (pairs, _PAIR_WEIGHT)):
            for feature, count in bag.items():
                digest = int.from_bytes(
                    hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                sign = 1.0 if digest >> 63 else -1.0
                vector[digest % self._dimensions] += sign * weight * (1.0 + math.log(count))
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector /= norm
        return [float(x) for x in vector]

    async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]:
        if len(texts) <= 2:
            return [self.embed_one(t) for t in texts]
        # Many passages are a few milliseconds of CPU: keep them off the event loop.
        return await asyncio.to_thread(lambda: [self.embed_one(t) for t in texts])

    async def close(self) -> None:
        return None
