"""The exception tree of chatstream (tests/kernel/test_errors.py keeps every public
exception of ours under the root).

ChatstreamError
├── ConfigurationError      settings or a catalogue that cannot work
├── StoreUnavailable        the store cannot be reached (retry later)
├── LogUnavailable          the log (Kafka) cannot take a record now (retry later)
├── PoisonEvent             an event no retry will fix (goes to the dead-letter topic)
│   └── EventTooLarge       an event larger than the log takes
├── ProviderError           a model provider failed (retryable or not)
│   └── ProvidersExhausted  every model of a fallback chain failed or was skipped
├── StreamError             an error event inside an upstream's stream (the adapter
│                           makes it a ProviderError; agents/providers/chunks.py)
├── TemplateError, BadUrl   a template or a URL that cannot be used (kernel/)
├── ExtractionError         a document whose text cannot be read (agents/ingestion/)
├── ClientGone              the client left before its answer (api/disconnect.py)
└── ApiError                an HTTP answer the edge gives on purpose (api/errors.py: it
    │                       carries a status, a code and the field at fault; only the
    │                       edge raises it)
    ├── BadField            a request field chatstream cannot honour
    ├── AssistantRefused    a request that cannot use the assistant as asked
    └── DocumentTooLarge    an upload over its limit, found while it is read"""

from __future__ import annotations

__all__ = (
    "ChatstreamError",
    "ConfigurationError",
    "EventTooLarge",
    "LogUnavailable",
    "PoisonEvent",
    "ProviderError",
    "ProvidersExhausted",
    "StoreUnavailable",
)


class ChatstreamError(Exception):
    """Root of every error chatstream raises on purpose."""


class ConfigurationError(ChatstreamError):
    pass


class StoreUnavailable(ChatstreamError):
    pass


class LogUnavailable(ChatstreamError):
    """``maybe_written``: the record was handed to the log and its acknowledgement did
    not come, so it may be in the log after all (a retry could write it twice)."""

    def __init__(self, message: str, *, maybe_written: bool = False) -> None:
        super().__init__(message)
        self.maybe_written = maybe_written


class PoisonEvent(ChatstreamError):
    pass


class EventTooLarge(PoisonEvent):
    """The log refused an event for its size (Kafka's ``message.max.bytes``): no retry
    will make it fit, so the event that produced it is dead-lettered."""


class ProviderError(ChatstreamError):
    """``retryable``: 429, 5xx, timeouts, dropped connections, malformed chunks: worth
    another try. ``retry_after``: seconds the provider asked us to wait. ``status``: the
    upstream's HTTP status, when it answered with one; ``detail``, ``type``, ``code`` and
    ``param``: its error object, so a request the upstream refused goes back to the client
    as the upstream said it. ``timeout``: no answer in time. Messages never carry keys."""

    def __init__(self, provider: str, message: str, *, retryable: bool = False,
                 retry_after: float | None = None, status: int | None = None,
                 detail: str | None = None, type: str | None = None,
                 code: str | None = None, param: str | None = None,
                 timeout: bool = False) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.detail = detail
        self.type = type
        self.code = code
        self.param = param
        self.timeout = timeout


class ProvidersExhausted(ProviderError):
    """No model of the chain answered. ``status``: what the client is told (429 when
    every upstream asked to slow down, 504 when they timed out, 502 when one failed, 503
    when none could be tried), with ``retry_after`` where one is known."""

    def __init__(self, attempts: list[str], *, status: int = 503,
                 retry_after: float | None = None) -> None:
        super().__init__("all providers", "; ".join(attempts) or "no model to try",
                         status=status, retry_after=retry_after)
        self.attempts = attempts
