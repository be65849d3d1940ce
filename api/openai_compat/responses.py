"""OpenAI's Responses API on top of the chat-completions path: a request's input items
as chat messages (then checked field by field like a chat completion), and a request's
relayed events as Responses stream events or one ``response`` object.

What the pipeline cannot do (state kept between responses: ``previous_response_id``,
``conversation``; hosted tools; reasoning items) is a 400 naming the field.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.openai_compat.completions_input import BadField
from api.relay.frames import KEEPALIVE_S
from api.relay.tokens import RequestStream

__all__ = ("ResponseWriter", "to_chat")

# Responses fields with a chat-completions twin of another name.
_RENAMED = {"max_output_tokens": "max_completion_tokens"}
_SAME = ("model", "stream", "temperature", "top_p", "parallel_tool_calls", "user")
_REFUSED = {
    "previous_response_id": "responses are not kept between requests: send the whole "
                            "conversation in `input`",
    "conversation": "responses are not kept between requests: send the whole "
                    "conversation in `input`",
    "reasoning": "reasoning options are not supported",
    "include": "extra output (`include`) is not supported",
    "background": "background responses are not supported",
    "prompt": "stored prompts are not supported",
    "max_tool_calls": "`max_tool_calls` is not supported",
    "top_logprobs": "log probabilities are not supported",
    "service_tier": "service tiers are not supported",
    "safety_identifier": "`safety_identifier` is not supported; use `user`",
    "prompt_cache_key": "prompt cache keys are not supported",
    "metadata": "metadata of stored responses is not supported",
    "store": "stored responses are not offered: chatstream stores every conversation "
             "itself (GET /v1/conversations)",
    "truncation": "only `truncation: disabled` is supported: chatstream fits the history "
                  "into the model's window itself",
    "stream_options": "stream options are not supported",
}
# Values of refused fields that ask for nothing.
_NEUTRAL: dict[str, tuple[object, ...]] = {
    "include": ([],), "background": (False,), "store": (False,), "metadata": ({},),
    "truncation": ("disabled",), "service_tier": ("auto", "default"),
}


def _content(content: object, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadField(f"{where}.content", "content must be text or a list of parts")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise BadField(f"{where}.content.{j}.type", f"content parts of type {kind!r} are "
                           "not supported", code="unsupported_parameter")
    return parts


def _messages(raw: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = raw.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise BadField("instructions", "instructions must be text")
        messages.append({"role": "system", "content": instructions})
    items = raw.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise BadField("input", "input must be text or a non-empty list of items")
    for i, item in enumerate(items):
        where = f"input.{i}"
        if not isinstance(item, dict):
            raise BadField(where, "an input item must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise BadField(f"{where}.role", f"messages of role {role!r} are not supported")
            messages.append({"role": role, "content": _content(item.get("content"), where)})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function", "function": {
                "name": item.get("name"), "arguments": item.get("arguments", "")}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if not isinstance(output, str):
                raise BadField(f"{where}.output", "a function call's output must be text")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": output})
        else:
            raise BadField(f"{where}.type", f"input items of type {kind!r} are not "
                           "supported", code="unsupported_parameter")
    return messages


def _tools(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tools = raw.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise BadField("tools", "tools must be a list")
        converted = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                kind = tool.get("type") if isinstance(tool, dict) else None
                raise BadField(f"tools.{i}.type", f"tools of type {kind!r} are not supported:"
                               " only function tools", code="unsupported_parameter")
            function = {k: tool[k] for k in ("name", "description", "parameters", "strict")
                        if tool.get(k) is not None}
            converted.append({"type": "function", "function": function})
        out["tools"] = converted or None
    choice = raw.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        choice = {"type": "function", "function": {"name": choice.get("name")}}
    if choice is not None:
        out["tool_choice"] = choice
    return out


def _format(raw: dict[str, Any]) -> dict[str, Any] | None:
    text = raw.get("text")
    if text is None:
        return None
    if not isinstance(text, dict):
        raise BadField("text", "text must be an object")
    for key in text:
        if key != "format":
            raise BadField(f"text.{key}", f"`text.{key}` is not supported",
                           code="unsupported_parameter")
    fmt = text.get("format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt.get("type")}


def to_chat(raw: object) -> dict[str, Any]:
    """A Responses request as the chat-completions request the pipeline takes."""
    if not isinstance(raw, dict):
        raise BadField(None, "the body must be a JSON object")
    known = {*_RENAMED, *_SAME, *_REFUSED, "input", "instructions", "tools", "tool_choice",
             "text"}
    for name in raw:
        if name not in known:
            raise BadField(name, f"`{name}` is not a parameter chatstream supports",
                           code="unknown_parameter")
    for name, why in _REFUSED.items():
        value = raw.get(name)
        if value is not None and value not in _NEUTRAL.get(name, ()):
            raise BadField(name, f"`{name}`: {why}", code="unsupported_parameter")
    chat: dict[str, Any] = {k: raw[k] for k in _SAME if raw.get(k) is not None}
    chat.update({twin: raw[k] for k, twin in _RENAMED.items() if raw.get(k) is not None})
    chat["messages"] = _messages(raw)
    chat.update(_tools(raw))
    fmt = _format(raw)
    if fmt is not None:
        chat["response_format"] = fmt
    return chat


def _sse(payload: dict[str, Any]) -> str:
    return f"event: {payload['type']}\ndata: {orjson.dumps(payload).decode()}\n\n"


@dataclass
class ResponseWriter:
    """Turns one request's relayed events into Responses stream events, keeping the
    ``response`` object they build up (the whole answer, when not streamed)."""

    id: str
    model: str
    request: dict[str, Any]
    created_at: int = field(default_factory=lambda: int(time.time()))
    output: list[dict[str, Any]] = field(default_factory=list)
    status: str = "in_progress"
    usage: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    _seq: int = 0
    _text: dict[str, Any] | None = None
    _calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": self.status, "model": self.model, "output": self.output,
            "error": self.error, "incomplete_details": None,
            "instructions": r.get("instructions"),
            "max_output_tokens": r.get("max_output_tokens"),
            "parallel_tool_calls": r.get("parallel_tool_calls", True),
            "temperature": r.get("temperature"), "top_p": r.get("top_p"),
            "tool_choice": r.get("tool_choice", "auto"), "tools": r.get("tools", []),
            "text": r.get("text", {"format": {"type": "text"}}), "usage": self.usage,
            "user": r.get("user"), "metadata": {}, "store": False, "truncation": "disabled",
        }

    def _event(self, kind: str, **body: Any) -> str:
        self._seq += 1
        return _sse({"type": kind, "sequence_number": self._seq, **body})

    def _open_text(self) -> list[str]:
        if self._text is not None:
            return []
        self._text = {"type": "message", "id": f"msg_{self.id[5:]}", "status": "in_progress",
                      "role": "assistant", "content": []}
        self.output.append(self._text)
        index = len(self.output) - 1
        return [self._event("response.output_item.added", output_index=index,
                            item=dict(self._text, content=[])),
                self._event("response.content_part.added", item_id=self._text["id"],
                            output_index=index, content_index=0,
                            part={"type": "output_text", "text": "", "annotations": []})]

    def _close(self) -> list[str]:
        out = []
        for index, item in enumerate(self.output):
            if item["status"] != "in_progress":
                continue
            item["status"] = "completed"
            if item["type"] == "message":
                text = item.pop("_text", "")
                part = {"type": "output_text", "text": text, "annotations": []}
                item["content"] = [part]
                out += [self._event("response.output_text.done", item_id=item["id"],
                                    output_index=index, content_index=0, text=text,
                                    logprobs=[]),
                        self._event("response.content_part.done", item_id=item["id"],
                                    output_index=index, content_index=0, part=part)]
            else:
                out.append(self._event("response.function_call_arguments.done",
                                       item_id=item["id"], output_index=index,
                                       arguments=item["arguments"]))
            out.append(self._event("response.output_item.done", output_index=index,
                                   item=item))
        return out

    def _on_text(self, delta: str) -> list[str]:
        out = self._open_text()
        assert self._text is not None
        self._text["_text"] = self._text.get("_text", "") + delta
        out.append(self._event("response.output_text.delta", item_id=self._text["id"],
                               output_index=self.output.index(self._text), content_index=0,
                               delta=delta, logprobs=[]))
        return out

    def _on_call(self, data: dict[str, Any]) -> list[str]:
        out: list[str] = []
        call = self._calls.get(int(data["index"]))
        if call is None:
            call_id = data.get("id") or f"call_{data['index']}"
            call = {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id,
                    "name": data.get("name") or "", "arguments": "", "status": "in_progress"}
            self._calls[int(data["index"])] = call
            self.output.append(call)
            out.append(self._event("response.output_item.added",
                                   output_index=len(self.output) - 1, item=dict(call)))
        call["arguments"] += data.get("arguments") or ""
        if data.get("arguments"):
            out.append(self._event("response.function_call_arguments.delta",
                                   item_id=call["id"], output_index=self.output.index(call),
                                   delta=data["arguments"]))
        return out

    async def events(self, stream: RequestStream) -> AsyncIterator[str]:
        """The stream's Responses events, ``response.completed`` (or ``failed``) last."""
        yield self._event("response.created", response=self.response())
        yield self._event("response.in_progress", response=self.response())
        async for e in stream.follow(0, KEEPALIVE_S):
            if e is None:
                yield ": keep-alive\n\n"
                continue
            data = e.payload
            if e.event == "status" and data.get("model"):
                self.model = data["model"]
            elif e.event == "token":
                for line in self._on_text(data["text"]):
                    yield line
            elif e.event == "tool_calls":
                for line in self._on_call(data):
                    yield line
            elif e.event == "restart" and self.output:
                # Output already sent cannot be taken back: fail rather than mix.
                yield self._fail("restarted", "the answer was restarted on another model "
                                 "after it had begun; send the request again")
                return
            elif e.event == "error":
                yield self._fail(data.get("code", "error"), data.get("message", ""))
                return
            elif e.event == "done":
                for line in self._close():
                    yield line
                raw = data.get("usage") or {}
                prompt, completion = int(raw.get("prompt_tokens", 0)), int(
                    raw.get("completion_tokens", 0))
                self.usage = {"input_tokens": prompt, "output_tokens": completion,
                              "total_tokens": prompt + completion,
                              "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens_details": {"reasoning_tokens": 0}}
                self.status = "completed"
                yield self._event("response.completed", response=self.response())
                return

    def _fail(self, code: str, message: str) -> str:
        self.status = "failed"
        self.error = {"code": code, "message": message}
        return self._event("response.failed", response=self.response())
