"""The streaming loop shared by the adapters of the official OpenAI and Groq SDKs.

Both SDKs are generated from the same OpenAPI description, so their streams, chunks and
exception trees have the same shape; each adapter only says how to open a stream and
which module's exceptions to map. The SDK sends the request and checks its status; the
body is read by :mod:`agents.providers.chunks`, without the SDK's object per chunk. The
SDKs' own retries are off: retries, backoff, circuit breaking and failover are the
inference stage's (see :mod:`agents.inference.failover`).
"""

from __future__ import annotations

import abc
import contextlib
import email.utils
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from agents.providers.base import Delta, Prompt
from agents.providers.chunks import StreamError, chunks
from agents.providers.messages import to_messages
from kernel.errors import ProviderError
from schemas.catalogue import ModelSpec
from schemas.events import Usage

__all__ = ("SdkProvider", "retry_after")

# Statuses worth another try, as the SDKs themselves judge them.
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def _text(value: object) -> str | None:
    """A field of the upstream's error object, as text (some servers send numbers)."""
    return None if value is None else str(value)[:200]


def retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw_ms) / 1000)
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(raw)
        return max(0.0, when.timestamp() - time.time())
    return None


class SdkProvider(abc.ABC):
    """A provider backed by an OpenAI-style SDK client."""

    def __init__(self, name: str, *, sdk: ModuleType, http: ModuleType, client: Any,
                 timeout_s: float, secret: str | None = None) -> None:
        self.name = name
        self._sdk = sdk
        # The HTTP library the SDK is built on (httpx or its fork httpx2): reading the body
        # ourselves, its transport errors reach us unwrapped.
        self._http = http
        self._client = client
        self._timeout_s = timeout_s
        self._secret = secret

    @abc.abstractmethod
    def _open(self, model: ModelSpec, prompt: Prompt,
              messages: list[dict[str, Any]]) -> Any:
        """A streaming chat completion as the SDK's ``with_streaming_response`` context:
        entered, it has sent the request and checked the status; the body is unread."""

    # OpenAI's own API takes the answer's limit as max_completion_tokens (its reasoning
    # models refuse max_tokens); other OpenAI-style servers know only max_tokens.
    _limit_name = "max_tokens"

    def _sampling(self, prompt: Prompt) -> dict[str, Any]:
        """The request's options, only those it sets (the model's defaults otherwise)."""
        extra = prompt.options.upstream()
        extra.pop("max_tokens", None)
        extra.pop("temperature", None)
        if prompt.max_tokens is not None:
            extra[self._limit_name] = prompt.max_tokens
        if prompt.temperature is not None:
            extra["temperature"] = prompt.temperature
        return extra

    async def aclose(self) -> None:
        await self._client.close()

    def _scrub(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "[redacted]")
        return text[:1000]

    def _error(self, exc: Exception) -> ProviderError:
        sdk = self._sdk
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderError(self.name, f"timed out after {self._timeout_s:g}s",
                                 retryable=True, timeout=True)
        if isinstance(exc, sdk.APIConnectionError):
            cause = type(exc.__cause__ or exc).__name__
            return ProviderError(self.name, f"connection failed ({cause})", retryable=True)
        if isinstance(exc, sdk.APIStatusError):
            status = int(exc.status_code)
            body = exc.body if isinstance(exc.body, dict) else {}
            if status in (401, 403):
                detail = "the key was refused (check it in settings)"
            else:
                said = body.get("message")
                detail = self._scrub(said if isinstance(said, str) and said
                                     else str(getattr(exc, "message", "") or exc))
            retryable = status >= 500 or status in _RETRYABLE_STATUS
            return ProviderError(self.name, f"HTTP {status}: {detail}", retryable=retryable,
                                 retry_after=retry_after(exc.response.headers), status=status,
                                 detail=detail, type=_text(body.get("type")),
                                 code=_text(body.get("code")), param=_text(body.get("param")))
        return ProviderError(self.name, self._scrub(f"{type(exc).__name__}: {exc}"))

    async def stream(self, model: ModelSpec, prompt: Prompt) -> AsyncIterator[Delta]:
        messages = to_messages(prompt)
        opened = self._open(model, prompt, messages)
        try:
            response = await opened.__aenter__()
        except self._sdk.APIError as exc:
            raise self._error(exc) from exc
        except self._http.HTTPError as exc:
            raise self._transport_error(exc) from exc
        finish: str | None = None
        usage: Usage | None = None
        try:
            iterator = chunks(response.iter_lines()).__aiter__()
            while True:
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except self._http.HTTPError as exc:
                    raise self._transport_error(exc) from exc
                except StreamError as exc:
                    detail = self._scrub(str(exc))
                    raise ProviderError(self.name, detail, detail=detail, type=exc.type,
                                        code=exc.code, status=exc.status) from exc
                except (ValueError, TypeError, AttributeError) as exc:
                    raise ProviderError(self.name, f"malformed chunk ({type(exc).__name__})",
                                        retryable=True) from exc
                usage = chunk.usage or usage
                finish = chunk.finish_reason or finish
                if chunk.text:
                    yield Delta(text=chunk.text)
                for call in chunk.tool_calls:
                    yield Delta(tool_call=call)
        finally:
            # Closing the response closes the connection of an unfinished stream: the
            # provider sees the client go away and stops generating (and billing).
            with contextlib.suppress(Exception):
                await opened.__aexit__(None, None, None)
        if finish is None:
            raise ProviderError(self.name, "the stream ended before the model finished",
                                retryable=True)
        yield Delta(usage=usage, finish_reason=finish)

    def _transport_error(self, exc: Exception) -> ProviderError:
        if isinstance(exc, self._http.TimeoutException):
            return ProviderError(self.name, f"timed out after {self._timeout_s:g}s",
                                 retryable=True, timeout=True)
        return ProviderError(self.name, f"connection failed ({type(exc).__name__})",
                             retryable=True)
