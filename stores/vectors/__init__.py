"""Vector indexes of document passages: one interface, an embedded and a Weaviate adapter."""

from stores.vectors.base import Hit, IndexedChunk, VectorIndex

__all__ = ("Hit", "IndexedChunk", "VectorIndex")
