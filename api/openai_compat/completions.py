"""The OpenAI chat-completions protocol on top of the token relay: a request's relayed
events as OpenAI stream chunks, or as one completion body."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.responses import JSONResponse

from api.relay.frames import KEEPALIVE_S, SseEvent
from api.relay.tokens import RequestStream
from schemas.completions import (
    ChatCompletion,
    Choice,
    CompletionUsage,
    FunctionCallOut,
    OpenAIError,
    OpenAIErrorBody,
    ResponseMessage,
    ToolCallOut,
)

__all__ = ("Completion", "collect", "openai_error", "status_of", "stream_chunks")

# chatstream's finish reasons in OpenAI's vocabulary.
_FINISH = {"stop": "stop", "length": "length", "blocked": "content_filter",
           "content_filter": "content_filter", "cancelled": "stop",
           "tool_calls": "tool_calls"}

# Error codes of the pipeline as HTTP statuses, for non-streamed answers.
_STATUS = {"unknown_model": 404, "provider_unavailable": 503, "provider_error": 502}


def status_of(code: str) -> int:
    """The HTTP status of a pipeline error code, for answers that are not streamed."""
    return _STATUS.get(code, 502)


def openai_error(status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    body = OpenAIError(error=OpenAIErrorBody(message=message, type=type, param=param,
                                             code=code))
    return JSONResponse(body.model_dump(), status, headers=headers)


def _usage(data: dict[str, Any]) -> dict[str, int]:
    raw = data.get("usage") or {}
    prompt, completion = int(raw.get("prompt_tokens", 0)), int(raw.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


@dataclass
class Completion:
    """What the client is told about one request: its id, time and model."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": choices, **extra}
        return f"data: {orjson.dumps(body).decode()}\n\n"


def _delta(content: str | None = None, finish: str | None = None,
           role: bool = False, tool_call: dict[str, Any] | None = None,
           ) -> list[dict[str, Any]]:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    if tool_call is not None:
        delta["tool_calls"] = [_tool_call_delta(tool_call)]
    return [{"index": 0, "delta": delta, "finish_reason": finish}]


def _tool_call_delta(data: dict[str, Any]) -> dict[str, Any]:
    """A relayed ``tool_calls`` event as OpenAI streams it: the first piece of a call
    carries its id, type and name, the following ones only more arguments."""
    function: dict[str, Any] = {"arguments": data.get("arguments", "")}
    out: dict[str, Any] = {"index": data["index"], "function": function}
    if data.get("id"):
        out["id"], out["type"] = data["id"], "function"
    if data.get("name"):
        function["name"] = data["name"]
    return out


class _ToolCalls:
    """Tool calls assembled from relayed pieces, for a non-streamed answer."""

    def __init__(self) -> None:
        self.calls: dict[int, ToolCallOut] = {}

    def add(self, data: dict[str, Any]) -> None:
        index = int(data["index"])
        call = self.calls.get(index)
        if call is None:
            call = self.calls[index] = ToolCallOut(
                id=data.get("id") or f"call_{index}", function=FunctionCallOut(name=""))
        call.function.name += data.get("name") or ""
        call.function.arguments += data.get("arguments") or ""

    def done(self) -> list[ToolCallOut] | None:
        return [c for _, c in sorted(self.calls.items())] or None


def _error_event(code: str, message: str) -> str:
    body = OpenAIErrorBody(message=message, type="server_error", code=code)
    return f"data: {json.dumps({'error': body.model_dump()})}\n\n"


async def stream_chunks(stream: RequestStream, completion: Completion,
                        include_usage: bool) -> AsyncIterator[str]:
    """``data: {chunk}`` lines as OpenAI streams them, ending with ``data: [DONE]``.
    Usage is in the final chunk: on the finish chunk, or (with ``include_usage``) in a
    chunk of its own with no choices, as OpenAI sends it. The chunks of the frames that
    arrived together are written together."""
    yield completion.chunk(_delta("", role=True))
    chunker = _Chunker(completion, include_usage)
    async for batch in stream.follow_batches(0, KEEPALIVE_S):
        if batch is None:
            yield ": keep-alive\n\n"
            continue
        out: list[str] = []
        for e in batch:
            if chunker.add(e, out):
                yield "".join(out)
                return
        if out:
            yield "".join(out)


@dataclass
class _Chunker:
    completion: Completion
    include_usage: bool
    sent_text: bool = False

    def add(self, e: SseEvent, out: list[str]) -> bool:
        """Append the chunks of frame ``e`` to ``out``; True once the stream has ended."""
        data = e.payload
        chunk = self.completion.chunk
        if e.event == "status" and data.get("model"):
            self.completion.model = data["model"]
        elif e.event == "token":
            self.sent_text = True
            out.append(chunk(_delta(data["text"])))
        elif e.event == "tool_calls":
            self.sent_text = True
            out.append(chunk(_delta(tool_call=data)))
        elif e.event == "restart" and self.sent_text:
            # OpenAI's protocol cannot take text back: end with an error, not a mix.
            out.append(_error_event("restarted", "the answer was restarted on another "
                                    "model after it had begun; send the request again"))
            return True
        elif e.event == "error":
            out.append(_error_event(data.get("code", "error"), data.get("message", "")))
            return True
        elif e.event == "done":
            finish = _FINISH.get(data.get("finish_reason", "stop"), "stop")
            usage = _usage(data)
            if self.include_usage:
                out += [chunk(_delta(finish=finish), usage=None), chunk([], usage=usage)]
            else:
                out.append(chunk(_delta(finish=finish), usage=usage))
            out.append("data: [DONE]\n\n")
            return True
        return False


async def collect(stream: RequestStream, completion: Completion) -> JSONResponse:
    """The whole answer as one ``chat.completion`` body, or an OpenAI error."""
    parts: list[str] = []
    calls = _ToolCalls()
    async for e in stream.follow(0, KEEPALIVE_S):
        if e is None:
            continue
        data = e.payload
        if e.event == "status" and data.get("model"):
            completion.model = data["model"]
        elif e.event == "token":
            parts.append(data["text"])
        elif e.event == "tool_calls":
            calls.add(data)
        elif e.event == "restart":
            parts, calls = [], _ToolCalls()
        elif e.event == "error":
            code = data.get("code", "error")
            return openai_error(status_of(code), data.get("message", ""),
                                type="server_error", code=code)
        elif e.event == "done":
            body = ChatCompletion(
                id=completion.id, created=completion.created, model=completion.model,
                choices=[Choice(message=ResponseMessage(
                                    content="".join(parts) if parts or not calls.calls
                                    else None, tool_calls=calls.done()),
                                finish_reason=_FINISH.get(data.get("finish_reason", "stop"),
                                                          "stop"))],
                usage=CompletionUsage(**_usage(data)))
            return JSONResponse(body.model_dump())
    return openai_error(502, "the answer ended without finishing", type="server_error")
