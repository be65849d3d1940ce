"""OpenAI's Responses protocol over the relay: an answer's events as Responses stream
events, building up the ``response`` object (the whole answer, when not streamed)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from api.openai_compat.errors import restart_failure
from api.relay.answer import Answer, ToolCall
from api.relay.events import Failed, Finished, Restarted, Started, Token, ToolCallPiece
from api.relay.render import Renderer, sse
from api.relay.stream import RequestStream

__all__ = ("ResponseEvents",)

_MESSAGE = -1  # the message's place among the output items (tool calls by their index)


class ResponseEvents(Renderer):
    """``response.created`` … ``response.completed`` (``failed``, or ``incomplete`` when
    the answer was withheld by a content filter or cut at ``max_output_tokens``). Not
    ``streamed``: nothing is encoded, and :meth:`response` is the answer."""

    def __init__(self, id: str, model: str, request: dict[str, Any], *,
                 streamed: bool = True, created_at: int | None = None) -> None:
        self.id = id
        self.request = request
        self.streamed = streamed
        self.created_at = int(time.time()) if created_at is None else created_at
        self.answer = Answer(model)
        self.status = "in_progress"
        self.incomplete: dict[str, str] | None = None
        self.usage: dict[str, Any] | None = None
        self.error: Failed | None = None
        self._refusal: str | None = None  # the prompt guard's, in place of text
        self._items: list[int] = []  # output items in the order they opened
        self._closed = False
        self._seq = 0

    def response(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": self.status, "model": self.answer.model,
            "output": [self._item(i) for i in self._items],
            "error": None if self.error is None else {"code": self.error.code,
                                                      "message": self.error.message},
            "incomplete_details": self.incomplete,
            "instructions": r.get("instructions"),
            "max_output_tokens": r.get("max_output_tokens"),
            "parallel_tool_calls": r.get("parallel_tool_calls", True),
            "temperature": r.get("temperature"), "top_p": r.get("top_p"),
            "tool_choice": r.get("tool_choice", "auto"), "tools": r.get("tools", []),
            "text": r.get("text", {"format": {"type": "text"}}), "usage": self.usage,
            "user": r.get("user"), "metadata": {}, "store": False, "truncation": "disabled",
        }

    # -- the output items --------------------------------------------------------------

    @property
    def _message_id(self) -> str:
        return f"msg_{self.id[5:]}"

    def _part(self, empty: bool = False) -> dict[str, Any]:
        if self._refusal is not None:
            return {"type": "refusal", "refusal": "" if empty else self._refusal}
        return {"type": "output_text", "text": "" if empty else self.answer.text,
                "annotations": []}

    def _item(self, which: int, *, opening: bool = False) -> dict[str, Any]:
        status = "completed" if self._closed else "in_progress"
        if self._closed and which == _MESSAGE and self.incomplete is not None:
            status = "incomplete"
        if which == _MESSAGE:
            return {"type": "message", "id": self._message_id, "status": status,
                    "role": "assistant",
                    "content": [self._part()] if self._closed and not opening else []}
        return self._call_item(self.answer.calls[which], status, opening=opening)

    @staticmethod
    def _call_item(call: ToolCall, status: str, *, opening: bool = False) -> dict[str, Any]:
        return {"type": "function_call", "id": f"fc_{call.id}", "call_id": call.id,
                "name": call.name, "arguments": "" if opening else call.arguments,
                "status": status}

    def _event(self, kind: str, **body: Any) -> bytes:
        self._seq += 1
        if not self.streamed:
            return b""
        return sse(orjson.dumps({"type": kind, "sequence_number": self._seq, **body}), kind)

    def _open(self, which: int) -> bytes:
        self._items.append(which)
        index = len(self._items) - 1
        out = self._event("response.output_item.added", output_index=index,
                          item=self._item(which, opening=True))
        if which == _MESSAGE:
            out += self._event("response.content_part.added", item_id=self._message_id,
                               output_index=index, content_index=0,
                               part=self._part(empty=True))
        return out

    def _close(self) -> bytes:
        self._closed = True
        out = []
        for index, which in enumerate(self._items):
            if which == _MESSAGE:
                part = self._part()
                out += [self._event("response.refusal.done", item_id=self._message_id,
                                    output_index=index, content_index=0,
                                    refusal=part["refusal"])
                        if self._refusal is not None else
                        self._event("response.output_text.done", item_id=self._message_id,
                                    output_index=index, content_index=0, text=part["text"],
                                    logprobs=[]),
                        self._event("response.content_part.done", item_id=self._message_id,
                                    output_index=index, content_index=0, part=part)]
            else:
                call = self.answer.calls[which]
                out.append(self._event("response.function_call_arguments.done",
                                       item_id=f"fc_{call.id}", output_index=index,
                                       arguments=call.arguments))
            out.append(self._event("response.output_item.done", output_index=index,
                                   item=self._item(which)))
        return b"".join(out)

    # -- the events ----------------------------------------------------------------------

    def opening(self, stream: RequestStream, after: int) -> bytes:
        if not self.streamed:
            self._seq += 2
            return b""
        return (self._event("response.created", response=self.response())
                + self._event("response.in_progress", response=self.response()))

    def started(self, e: Started) -> bytes:
        return self.answer.started(e)

    def token(self, e: Token) -> bytes:
        out = b"" if _MESSAGE in self._items else self._open(_MESSAGE)
        self.answer.token(e)
        return out + self._event("response.output_text.delta", item_id=self._message_id,
                                 output_index=self._items.index(_MESSAGE), content_index=0,
                                 delta=e.text, logprobs=[])

    def tool_call(self, e: ToolCallPiece) -> bytes:
        _, opened = self.answer.call(e)
        out = self._open(e.index) if opened else b""
        if e.arguments:
            out += self._event("response.function_call_arguments.delta",
                               item_id=f"fc_{self.answer.calls[e.index].id}",
                               output_index=self._items.index(e.index), delta=e.arguments)
        return out

    def restarted(self, e: Restarted) -> bytes:
        if not self._items:
            return b""
        self.ended = True
        return self.failed(restart_failure(e))

    def failed(self, e: Failed) -> bytes:
        self.status, self.error = "failed", e
        return self._event("response.failed", response=self.response())

    def finished(self, e: Finished) -> bytes:
        out = b""
        if e.refusal is not None and _MESSAGE not in self._items:
            # The prompt guard's refusal, as a refusal part of the message (never text).
            self._refusal = e.refusal
            out = self._open(_MESSAGE) + self._event(
                "response.refusal.delta", item_id=self._message_id,
                output_index=self._items.index(_MESSAGE), content_index=0, delta=e.refusal)
        if e.blocked:
            self.incomplete = {"reason": "content_filter"}
        elif e.finish_reason == "length":
            # OpenAI's answer cut at max_output_tokens: incomplete, and says why.
            self.incomplete = {"reason": "max_output_tokens"}
        out += self._close()
        self.usage = {"input_tokens": e.prompt_tokens, "output_tokens": e.completion_tokens,
                      "total_tokens": e.prompt_tokens + e.completion_tokens,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}
        if self.incomplete is not None:
            self.status = "incomplete"
            return out + self._event("response.incomplete", response=self.response())
        self.status = "completed"
        return out + self._event("response.completed", response=self.response())
