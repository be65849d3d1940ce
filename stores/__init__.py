"""Stores shared by the stages and the edge: a Protocol and an adapter per backend."""

from stores.base import Conversation, ConversationStore, StoredMessage, StoredSummary

__all__ = ("Conversation", "ConversationStore", "StoredMessage", "StoredSummary")
