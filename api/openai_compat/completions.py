"""OpenAI's chat-completions protocol over the relay: an answer's events as
``chat.completion.chunk`` events, or as one ``chat.completion`` body."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.responses import JSONResponse

from api.openai_compat.errors import answer_error, failure_event, restart_failure
from api.relay.answer import Answer
from api.relay.events import Failed, Finished, Restarted, Started, Token, ToolCallPiece
from api.relay.render import Renderer, drain, sse
from api.relay.stream import RequestStream
from schemas.completions import (
    ChatCompletion,
    Choice,
    CompletionUsage,
    FunctionCallOut,
    ResponseMessage,
    ToolCallOut,
)

__all__ = ("ChatChunks", "Completion", "collect")

# chatstream's finish reasons in OpenAI's vocabulary.
_FINISH = {"stop": "stop", "length": "length", "blocked": "content_filter",
           "content_filter": "content_filter", "cancelled": "stop",
           "tool_calls": "tool_calls"}
_DONE = sse(b"[DONE]")


def _finish_reason(e: Finished) -> str:
    return _FINISH.get(e.finish_reason, "stop")


def _usage(e: Finished) -> dict[str, int]:
    return {"prompt_tokens": e.prompt_tokens, "completion_tokens": e.completion_tokens,
            "total_tokens": e.prompt_tokens + e.completion_tokens}


def _choices(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "finish_reason": finish}]


@dataclass
class Completion:
    """What the client is told about one request: its id, time and model."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse(orjson.dumps({"id": self.id, "object": "chat.completion.chunk",
                                 "created": self.created, "model": self.model,
                                 "choices": choices, **extra}))


class ChatChunks(Renderer):
    """``data: {chunk}`` events as OpenAI streams them, ending with ``data: [DONE]``.
    Usage is in the final chunk: on the finish chunk, or (with ``include_usage``) in a
    chunk of its own with no choices, as OpenAI sends it."""

    def __init__(self, completion: Completion, include_usage: bool) -> None:
        self.completion = completion
        self.include_usage = include_usage
        self.sent_output = False

    def opening(self, stream: RequestStream, after: int) -> bytes:
        return self.completion.chunk(_choices({"role": "assistant", "content": ""}))

    def started(self, e: Started) -> bytes:
        if e.model:
            self.completion.model = e.model
        return b""

    def token(self, e: Token) -> bytes:
        self.sent_output = True
        return self.completion.chunk(_choices({"content": e.text}))

    def tool_call(self, e: ToolCallPiece) -> bytes:
        """The first piece of a call carries its id, type and name, the following ones
        only more arguments."""
        self.sent_output = True
        function: dict[str, Any] = {"arguments": e.arguments}
        call: dict[str, Any] = {"index": e.index, "function": function}
        if e.call_id:
            call["id"], call["type"] = e.call_id, "function"
        if e.name:
            function["name"] = e.name
        return self.completion.chunk(_choices({"tool_calls": [call]}))

    def restarted(self, e: Restarted) -> bytes:
        if not self.sent_output:
            return b""
        self.ended = True
        return self.failed(restart_failure(e))

    def failed(self, e: Failed) -> bytes:
        return sse(failure_event(e))

    def finished(self, e: Finished) -> bytes:
        chunk = self.completion.chunk
        # A refusal is told as OpenAI streams one: a delta of its own, never as content.
        said = chunk(_choices({"refusal": e.refusal})) if e.refusal is not None else b""
        finish = _choices({}, _finish_reason(e))
        if self.include_usage:
            return said + chunk(finish, usage=None) + chunk([], usage=_usage(e)) + _DONE
        return said + chunk(finish, usage=_usage(e)) + _DONE


async def collect(stream: RequestStream, completion: Completion) -> JSONResponse:
    """The whole answer as one ``chat.completion`` body, or an OpenAI error."""
    answer = Answer(completion.model)
    await drain(stream, answer)
    if answer.finish is None:
        return answer_error(answer.error)
    calls = [ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=c.arguments))
             for c in answer.tool_calls()]
    body = ChatCompletion(
        id=completion.id, created=completion.created, model=answer.model,
        choices=[Choice(message=ResponseMessage(
            content=answer.text if answer.parts or not (calls or answer.finish.refusal)
            else None, tool_calls=calls or None, refusal=answer.finish.refusal),
            finish_reason=_finish_reason(answer.finish))],
        usage=CompletionUsage(**_usage(answer.finish)))
    return JSONResponse(body.model_dump())
