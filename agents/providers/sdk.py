"""The streaming loop shared by the adapters of the official OpenAI and Groq SDKs.

Both SDKs are generated from the same OpenAPI description, so their streams, chunks and
exception trees have the same shape; each adapter only says how to open a stream and
which module's exceptions to map. The SDKs' own retries are off: retries, backoff,
circuit breaking and failover are the inference stage's (see :mod:`agents.inference.failover`).
"""

from __future__ import annotations

import abc
import contextlib
import email.utils
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from agents.providers.base import Delta, Prompt, ToolCallDelta
from agents.providers.messages import to_messages
from kernel.errors import ProviderError
from schemas.catalogue import ModelSpec
from schemas.events import Usage

__all__ = ("SdkProvider", "retry_after")

# Statuses worth another try, as the SDKs themselves judge them.
_RETRYABLE_STATUS = frozenset({408, 409, 429})


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

    def __init__(self, name: str, *, sdk: ModuleType, client: Any, timeout_s: float,
                 secret: str | None = None) -> None:
        self.name = name
        self._sdk = sdk
        self._client = client
        self._timeout_s = timeout_s
        self._secret = secret

    @abc.abstractmethod
    async def _open(self, model: ModelSpec, prompt: Prompt,
                    messages: list[dict[str, Any]]) -> Any:
        """Start a streaming chat completion; returns the SDK's async stream."""

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
        return text[:300]

    def _error(self, exc: Exception) -> ProviderError:
        sdk = self._sdk
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderError(self.name, f"timed out after {self._timeout_s:g}s",
                                 retryable=True)
        if isinstance(exc, sdk.APIConnectionError):
            cause = type(exc.__cause__ or exc).__name__
            return ProviderError(self.name, f"connection failed ({cause})", retryable=True)
        if isinstance(exc, sdk.APIStatusError):
            status = int(exc.status_code)
            if status in (401, 403):
                detail = "the key was refused (check it in settings)"
            else:
                detail = self._scrub(str(getattr(exc, "message", "") or exc))
            retryable = status >= 500 or status in _RETRYABLE_STATUS
            return ProviderError(self.name, f"HTTP {status}: {detail}", retryable=retryable,
                                 retry_after=retry_after(exc.response.headers), status=status)
        if isinstance(exc, ValueError | TypeError | AttributeError):
            # json.JSONDecodeError from the SDK's SSE decoder, or a chunk of the wrong shape
            return ProviderError(self.name, f"malformed chunk ({type(exc).__name__})",
                                 retryable=True)
        return ProviderError(self.name, self._scrub(f"{type(exc).__name__}: {exc}"))

    def _mapped(self) -> tuple[type[Exception], ...]:
        return (self._sdk.APIError, ValueError, TypeError, AttributeError)

    async def stream(self, model: ModelSpec, prompt: Prompt) -> AsyncIterator[Delta]:
        messages = to_messages(prompt)
        try:
            stream = await self._open(model, prompt, messages)
        except self._sdk.APIError as exc:
            raise self._error(exc) from exc
        finish: str | None = None
        usage: Usage | None = None
        try:
            iterator = stream.__aiter__()
            while True:
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except self._mapped() as exc:
                    raise self._error(exc) from exc
                try:
                    text, reason, found = _parse(chunk)
                    calls = _tool_calls(chunk)
                except (TypeError, AttributeError, ValueError) as exc:
                    raise self._error(exc) from exc
                usage = found or usage
                finish = reason or finish
                if text:
                    yield Delta(text=text)
                for call in calls:
                    yield Delta(tool_call=call)
        finally:
            # Closing the response closes the connection of an unfinished stream: the
            # provider sees the client go away and stops generating (and billing).
            with contextlib.suppress(Exception):
                await stream.close()
        if finish is None:
            raise ProviderError(self.name, "the stream ended before the model finished",
                                retryable=True)
        yield Delta(usage=usage, finish_reason=finish)


def _parse(chunk: Any) -> tuple[str, str | None, Usage | None]:
    text, reason = "", None
    choices = chunk.choices
    if choices:
        choice = choices[0]
        text = choice.delta.content or "" if choice.delta is not None else ""
        reason = choice.finish_reason
    raw = chunk.usage
    if raw is None:
        extension = getattr(chunk, "x_groq", None)  # Groq puts usage in its extension
        raw = getattr(extension, "usage", None)
    usage = None
    if raw is not None:
        usage = Usage(prompt_tokens=int(raw.prompt_tokens or 0),
                      completion_tokens=int(raw.completion_tokens or 0))
    if not isinstance(text, str):
        raise TypeError("delta content is not text")
    return text, reason, usage


def _tool_calls(chunk: Any) -> list[ToolCallDelta]:
    """The tool-call pieces of a chunk (OpenAI's ``delta.tool_calls``)."""
    choices = chunk.choices
    delta = choices[0].delta if choices else None
    found = getattr(delta, "tool_calls", None) if delta is not None else None
    out: list[ToolCallDelta] = []
    for call in found or ():
        function = call.function
        name = function.name if function is not None else None
        arguments = (function.arguments if function is not None else None) or ""
        if not isinstance(call.index, int) or not isinstance(arguments, str):
            raise TypeError("tool call delta of the wrong shape")
        out.append(ToolCallDelta(index=call.index, id=call.id, name=name,
                                 arguments=arguments))
    return out
