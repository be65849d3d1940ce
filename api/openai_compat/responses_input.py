"""A request of OpenAI's Responses API as the chat-completions request the pipeline takes:
its input items as chat messages (then checked field by field like a chat completion).

What the pipeline cannot do (state kept between responses: ``previous_response_id``,
``conversation``; hosted tools; reasoning items) is a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from api.openai_compat.completions_input import BadField

__all__ = ("CHAT_NAMES", "to_chat")

# Responses fields with a chat-completions twin of another name.
_RENAMED = {"max_output_tokens": "max_completion_tokens"}
CHAT_NAMES = {"max_completion_tokens": "max_output_tokens", "response_format": "text.format"}
"""The chat fields a Responses request was translated to, by the names its client sent:
an error about one names the field the client knows."""
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
