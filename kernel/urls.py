"""The shape of a URL the page fetcher may try (used by the edge, to refuse at once what
can never be fetched, and by the fetcher at every hop). Where the host resolves to is
checked only by the fetcher, when it connects (agents/ingestion/fetch.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from kernel.errors import ChatstreamError

__all__ = ("MAX_URL_CHARS", "BadUrl", "check_url")

MAX_URL_CHARS = 2048


class BadUrl(ChatstreamError):
    """The URL cannot be fetched; the message says why."""


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL with a host and no user name or password."""
    if len(url) > MAX_URL_CHARS:
        raise BadUrl(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadUrl(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadUrl("only http and https URLs are fetched")
    if parts.username is not None or parts.password is not None:
        raise BadUrl("a URL with a user name or password is not fetched")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadUrl("the URL has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)
