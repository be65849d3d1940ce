"""Uploaded documents: their metadata, indexing status and the uploaded bytes."""

from stores.documents.base import Document, DocumentStatus, DocumentStore

__all__ = ("Document", "DocumentStatus", "DocumentStore")
