"""An OpenAI chat-completions request as the pipeline's request: its messages as turns
(tool calls with their results, images), its fields as generation options.

Every field either reaches the model or is refused here with a :class:`BadField` naming
it; the catalogue says what each model supports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from api.errors import ApiError
from kernel.tokens import estimate_tokens
from schemas.catalogue import ModelSpec
from schemas.completions import NEUTRAL, REFUSED, ChatCompletionRequest, ChatMessageIn
from schemas.events import HistoryTurn, ImagePart, ToolCall
from schemas.options import GenerationOptions

__all__ = ("Asked", "BadField", "Limits", "native_options", "parse_request", "translate")

_ROLES: dict[str, Literal["system", "user", "assistant"]] = {
    "system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class BadField(ApiError):
    """A request field chatstream cannot honour: the 400 names it."""

    def __init__(self, param: str | None, message: str, code: str = "invalid_value",
                 status: int = 400) -> None:
        super().__init__(status, code, message, param=param)


@dataclass(frozen=True)
class Limits:
    max_image_bytes: int
    """The most bytes of image data URLs in one request, all images together: the
    request travels on the log as one event, and a log's events have a size limit."""
    max_images: int = 8


@dataclass(frozen=True)
class Asked:
    """The request in the pipeline's terms."""

    history: tuple[HistoryTurn, ...]
    text: str
    images: tuple[ImagePart, ...]
    tool_rounds: tuple[HistoryTurn, ...]
    options: GenerationOptions
    name: str | None = None


def _extra(model: Any, where: str) -> None:
    for name in (model.model_extra or {}):
        raise BadField(f"{where}{name}", f"`{where}{name}` is not a parameter chatstream "
                       "supports", code="unknown_parameter")


def parse_request(raw: object) -> ChatCompletionRequest:
    if not isinstance(raw, dict):
        raise BadField(None, "the body must be a JSON object")
    try:
        body = ChatCompletionRequest.model_validate(
            {k: v for k, v in raw.items() if k not in REFUSED})
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err.get("loc", ())) or None
        raise BadField(param, f"{param}: {err['msg']}" if param else err["msg"]) from None
    for name, why in REFUSED.items():
        value = raw.get(name)
        if value is not None and value not in NEUTRAL.get(name, ()):
            raise BadField(name, f"`{name}`: {why}", code="unsupported_parameter")
    _extra(body, "")
    if body.stream_options is not None:
        _extra(body.stream_options, "stream_options.")
        if body.stream_options.include_obfuscation:
            raise BadField("stream_options.include_obfuscation",
                           "stream obfuscation is not supported",
                           code="unsupported_parameter")
    if body.n not in (None, 1):
        raise BadField("n", "only n=1 is supported: ask again for another answer",
                       code="unsupported_parameter")
    return body


def _text(m: ChatMessageIn, where: str) -> str:
    if isinstance(m.content, list):
        out = []
        for j, part in enumerate(m.content):
            if part.type == "text":
                out.append(part.text or "")
            elif part.type != "image_url" or m.role != "user":
                raise BadField(f"{where}.content.{j}.type", f"content parts of type "
                               f"{part.type!r} are not supported in {m.role} messages",
                               code="unsupported_parameter")
        return "".join(out)
    return m.content or ""


def _images(m: ChatMessageIn, where: str, spec: ModelSpec,
            limits: Limits) -> tuple[ImagePart, ...]:
    if not isinstance(m.content, list):
        return ()
    found = []
    for j, part in enumerate(m.content):
        if part.type != "image_url":
            continue
        param = f"{where}.content.{j}.image_url"
        if not spec.vision:
            raise BadField(param, f"the model `{spec.name}` does not read images; see "
                           "GET /v1/models for the ones that do (vision: true)",
                           code="unsupported_parameter")
        if part.image_url is None:
            raise BadField(param, "an image_url part needs `image_url.url`")
        url = part.image_url.url
        if url.startswith("data:"):
            if not url.startswith("data:image/"):
                raise BadField(param, "a data URL must hold an image (data:image/...)")
        elif not url.startswith("https://"):
            raise BadField(param, "an image URL must be https:// or a data: URL")
        elif len(url) > 2048:
            raise BadField(param, "the image URL is longer than 2048 characters")
        found.append(ImagePart(url=url, detail=part.image_url.detail))
    return tuple(found)


def _turns(body: ChatCompletionRequest, spec: ModelSpec,
           limits: Limits) -> list[HistoryTurn]:
    turns: list[HistoryTurn] = []
    images = data = 0
    for i, m in enumerate(body.messages):
        where = f"messages.{i}"
        _extra(m, f"{where}.")
        if m.audio is not None:
            raise BadField(f"{where}.audio", "audio in the history is not supported",
                           code="unsupported_parameter")
        if m.function_call is not None:
            raise BadField(f"{where}.function_call", "the deprecated `function_call` is not "
                           "supported; send `tool_calls`", code="unsupported_parameter")
        # `annotations` (an assistant's URL citations) are the model's own output, not
        # something it reads: accepted and left out of the prompt, as OpenAI does.
        if m.refusal is not None:
            raise BadField(f"{where}.refusal", "assistant refusals are not supported in "
                           "the history", code="unsupported_parameter")
        if m.role == "tool":
            turns = _attach_result(turns, m, where, spec)
            continue
        role = _ROLES.get(m.role)
        if role is None:
            raise BadField(f"{where}.role", f"{m.role} messages are not supported; use "
                           "tool messages")
        if m.tool_calls and role != "assistant":
            raise BadField(f"{where}.tool_calls", "only assistant messages have tool calls")
        if m.tool_call_id is not None:
            raise BadField(f"{where}.tool_call_id", "only tool messages answer a tool call")
        found = _images(m, where, spec, limits)
        images += len(found)
        data += sum(len(f.url) for f in found if f.url.startswith("data:"))
        if images > limits.max_images:
            raise BadField(where, f"at most {limits.max_images} images a request")
        if data > limits.max_image_bytes:
            raise BadField(f"{where}.content", f"the images' data URLs take more than "
                           f"{limits.max_image_bytes} bytes, the limit of a request",
                           code="image_too_large", status=413)
        calls = tuple(ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                      for c in m.tool_calls or ())
        turns.append(HistoryTurn(role=role, text=_text(m, where), tool_calls=calls,
                                 images=found, name=m.name))
    return turns


def _fits(spec: ModelSpec, text: str, param: str, what: str) -> None:
    """A message that alone takes more than the model's context window: no fitting of the
    history can make room for it (the body's bytes are bounded before it is parsed)."""
    tokens = estimate_tokens(text)
    if tokens > spec.context_window:
        raise BadField(param, f"{what} takes about {tokens} tokens, more than the context "
                       f"window of `{spec.name}` ({spec.context_window} tokens)",
                       code="context_length_exceeded")


def _attach_result(turns: list[HistoryTurn], m: ChatMessageIn, where: str,
                   spec: ModelSpec) -> list[HistoryTurn]:
    """A tool message becomes the result of the call it answers, in the assistant turn
    that made it (the latest one: results follow their calls)."""
    if not m.tool_call_id:
        raise BadField(f"{where}.tool_call_id", "a tool message needs the `tool_call_id` "
                       "of the call it answers")
    result = _text(m, where)
    _fits(spec, result, f"{where}.content", "the tool result")
    last = turns[-1] if turns else None
    if last is None or last.role != "assistant" or not last.tool_calls:
        raise BadField(f"{where}.role", "a tool message must follow the assistant message "
                       "whose tool call it answers")
    if m.tool_call_id not in {c.id for c in last.tool_calls}:
        raise BadField(f"{where}.tool_call_id", f"no tool call {m.tool_call_id!r} in the "
                       "assistant message before it")
    calls = tuple(c.model_copy(update={"result": result}) if c.id == m.tool_call_id else c
                  for c in last.tool_calls)
    return [*turns[:-1], last.model_copy(update={"tool_calls": calls})]


def _options(body: ChatCompletionRequest, spec: ModelSpec) -> GenerationOptions:
    raw: dict[str, Any] = {
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "temperature": body.temperature, "top_p": body.top_p, "seed": body.seed,
        "stop": [body.stop] if isinstance(body.stop, str) else body.stop,
        "presence_penalty": body.presence_penalty,
        "frequency_penalty": body.frequency_penalty, "logit_bias": body.logit_bias,
        "user": body.user, "tools": body.tools or None, "tool_choice": body.tool_choice,
        "parallel_tool_calls": body.parallel_tool_calls,
    }
    fmt = body.response_format
    if fmt is not None and fmt.get("type") != "text":
        raw["response_format"] = fmt
    if fmt is not None and fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise BadField("response_format.type", "response_format.type must be text, "
                       "json_object or json_schema")
    if fmt is not None and fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise BadField("response_format.json_schema", "a json_schema response format "
                           "needs `json_schema.name` (and `json_schema.schema`)")
    for key, value in (body.logit_bias or {}).items():
        if not key.isdigit() or not -100 <= value <= 100:
            raise BadField("logit_bias", "logit_bias maps token ids to values in -100..100")
    try:
        options = GenerationOptions.model_validate({k: v for k, v in raw.items()
                                                    if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err.get("loc", ())) or None
        raise BadField(param, f"{param}: {err['msg']}") from None
    _check_tool_choice(options)
    for name in options.set_fields():
        if not spec.supports(name):
            param = "max_completion_tokens" if name == "max_tokens" \
                and body.max_completion_tokens else name
            raise BadField(param, f"the model `{spec.name}` does not support `{param}`; "
                           "see GET /v1/models", code="unsupported_parameter")
    return options


def _check_tool_choice(options: GenerationOptions) -> None:
    choice = options.tool_choice
    if choice is None:
        return
    if not options.tools:
        raise BadField("tool_choice", "tool_choice needs tools")
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise BadField("tool_choice", "tool_choice must be none, auto, required or a "
                           "named function")
        return
    name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" \
        else None
    if name not in {t.function.name for t in options.tools}:
        raise BadField("tool_choice", "tool_choice must name one of the tools")


def translate(body: ChatCompletionRequest, spec: ModelSpec, limits: Limits) -> Asked:
    options = _options(body, spec)
    turns = _turns(body, spec, limits)
    users = [i for i, t in enumerate(turns) if t.role == "user"]
    if not users:
        raise BadField("messages", "the messages need a user message")
    at = users[-1]
    question, rounds = turns[at], tuple(turns[at + 1:])
    for t in rounds:
        if t.role != "assistant" or not t.tool_calls:
            raise BadField("messages", "the last message must be a user message, or tool "
                           "messages answering the assistant's tool calls")
        unanswered = [c.id for c in t.tool_calls if c.result is None]
        if unanswered:
            raise BadField("messages", f"tool call {unanswered[0]!r} has no tool message "
                           "with its result")
    if any(t.tool_calls for t in turns) and not spec.supports("tools"):
        raise BadField("messages", f"the model `{spec.name}` does not call tools, so it "
                       "cannot continue a conversation with tool calls",
                       code="unsupported_parameter")
    if not question.text.strip() and not question.images:
        raise BadField("messages", "the last user message has no text")
    _fits(spec, question.text, "messages", "the last message")
    return Asked(history=tuple(turns[:at]), text=question.text, images=question.images,
                 tool_rounds=rounds, options=options, name=question.name)


def native_options(raw: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """The ``options`` of a message posted to the native route, checked like the fields of
    a chat completion: an unknown option or one the model cannot honour is refused."""
    for name in raw:
        if name not in GenerationOptions.model_fields:
            raise BadField(f"options.{name}", f"`options.{name}` is not an option chatstream "
                           f"supports; options are {', '.join(GenerationOptions.model_fields)}",
                           code="unknown_parameter")
    try:
        options = GenerationOptions.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in ("options", *err.get("loc", ())))
        raise BadField(param, f"{param}: {err['msg']}") from None
    _check_tool_choice(options)
    for name in options.set_fields():
        if not spec.supports(name):
            raise BadField(f"options.{name}", f"the model `{spec.name}` does not support "
                           f"`{name}`; see GET /v1/models", code="unsupported_parameter")
    return options.model_dump(exclude_none=True)
