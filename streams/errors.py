"""The exception tree of chatstream.

ChatstreamError
├── ConfigurationError      settings or a catalogue that cannot work
├── NotFound                a conversation, request or model that does not exist
├── StoreUnavailable        the store cannot be reached (retry later)
├── LogUnavailable          the log (Kafka) cannot take a record now (retry later)
├── PoisonEvent             an event no retry will fix (goes to the dead-letter topic)
└── ProviderError           a model provider failed
"""

from __future__ import annotations

__all__ = (
    "ChatstreamError",
    "ConfigurationError",
    "LogUnavailable",
    "NotFound",
    "PoisonEvent",
    "ProviderError",
    "StoreUnavailable",
)


class ChatstreamError(Exception):
    """Root of every error chatstream raises on purpose."""


class ConfigurationError(ChatstreamError):
    pass


class NotFound(ChatstreamError):
    pass


class StoreUnavailable(ChatstreamError):
    pass


class LogUnavailable(ChatstreamError):
    pass


class PoisonEvent(ChatstreamError):
    pass


class ProviderError(ChatstreamError):
    def __init__(self, provider: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.retryable = retryable
