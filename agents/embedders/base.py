"""What an embedder is: texts in, one vector per text out, all in one named space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ("Embedder",)


class Embedder(Protocol):
    @property
    def space(self) -> str:
        """Names the embedding space (method, model, dimensions). Vectors of two spaces
        are never compared: each space gets its own index collection."""
        ...

    async def embed(self, texts: Sequence[str], tenant: str = "") -> list[list[float]]:
        """One vector per text. ``tenant``: whose work it is; an embedder whose model
        runs here serves tenants in turn, so none waits behind another's batch."""
        ...

    async def close(self) -> None: ...
