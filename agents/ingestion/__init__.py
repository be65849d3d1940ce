"""The ingestion stage: documents in, passages in the vector index out."""

from agents.ingestion.stage import IngestionDeps, handle, stage

__all__ = ("IngestionDeps", "handle", "stage")
