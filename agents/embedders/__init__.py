"""Text embedders behind one interface: the offline hashing embedder and any
OpenAI-compatible embeddings endpoint."""

from agents.embedders.base import Embedder
from agents.embedders.hashing import HashingEmbedder

__all__ = ("Embedder", "HashingEmbedder")
