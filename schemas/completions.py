"""Bodies of the OpenAI-compatible ``POST /v1/chat/completions``, as OpenAI shapes them.

Every field of OpenAI's request is either carried to the model or refused with a 400
naming it (see :data:`REFUSED` and docs/models.md); nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = (
    "NEUTRAL",
    "REFUSED",
    "ChatCompletion",
    "ChatCompletionRequest",
    "ChatMessageIn",
    "Choice",
    "CompletionUsage",
    "ContentPart",
    "FunctionCallIn",
    "FunctionCallOut",
    "ImageUrl",
    "OpenAIError",
    "OpenAIErrorBody",
    "ResponseMessage",
    "StreamOptions",
    "ToolCallIn",
    "ToolCallOut",
)

REFUSED: dict[str, str] = {
    "audio": "audio output is not supported",
    "modalities": "only text output is supported",
    "prediction": "predicted outputs are not supported",
    "logprobs": "log probabilities are not supported",
    "top_logprobs": "log probabilities are not supported",
    "functions": "the deprecated `functions` are not supported; use `tools`",
    "function_call": "the deprecated `function_call` is not supported; use `tool_choice`",
    "service_tier": "service tiers are not supported",
    "store": "OpenAI's stored completions are not offered: chatstream stores every "
             "conversation itself (GET /v1/conversations)",
    "metadata": "metadata of stored completions is not supported",
    "reasoning_effort": "reasoning effort is not supported",
    "verbosity": "verbosity is not supported",
    "web_search_options": "web search options are not supported",
    "prompt_cache_key": "prompt cache keys are not supported",
    "safety_identifier": "`safety_identifier` is not supported; use `user`",
}
"""OpenAI request fields chatstream does not implement, and why: a 400 names them."""

NEUTRAL: dict[str, tuple[object, ...]] = {
    "modalities": (["text"],),
    "logprobs": (False,),
    "top_logprobs": (0,),
    "service_tier": ("auto", "default"),
    "store": (False,),
    "metadata": ({},),
}
"""Values of refused fields that ask for nothing (what a client sends to mean "off"):
accepted, since honouring them is doing nothing."""


class _Open(BaseModel):
    # Unknown keys are kept so the edge can name them in its 400, not drop them.
    model_config = ConfigDict(extra="allow")


class ImageUrl(_Open):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ContentPart(_Open):
    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class FunctionCallIn(_Open):
    name: str = Field(min_length=1, max_length=64)
    arguments: str = ""


class ToolCallIn(_Open):
    id: str = Field(min_length=1, max_length=128)
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessageIn(_Open):
    """A message as the SDKs send it, an assistant message sent back as the SDK returned
    it included (``message.model_dump()``: null ``refusal``, ``audio``, ``function_call``,
    ``annotations``)."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(None, min_length=1, max_length=64)
    tool_calls: list[ToolCallIn] | None = Field(None, max_length=128)
    tool_call_id: str | None = None
    refusal: str | None = None
    audio: dict[str, Any] | None = None
    function_call: dict[str, Any] | None = None
    annotations: list[dict[str, Any]] | None = None


class StreamOptions(_Open):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class ChatCompletionRequest(_Open):
    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    user: str | None = Field(None, max_length=256)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class FunctionCallOut(BaseModel):
    name: str
    arguments: str = ""


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCallOut] | None = None
    # Why no answer was generated (the prompt guard refused the request), as OpenAI
    # reports a refusal.
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorBody
