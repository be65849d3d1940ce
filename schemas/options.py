"""The generation options a request carries through the pipeline (the ``options`` of
chat.requests.v1), and which of them a model of the catalogue supports.

The edge validates them (``POST /v1/chat/completions`` answers 400 naming a field a
model cannot honour); the inference stage reads them back and hands the provider only
those that are set, so the upstream's own defaults apply otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = (
    "FORWARDED",
    "GenerationOptions",
    "ToolSpec",
    "parse_options",
)


class FunctionSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = Field(None, max_length=4096)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(BaseModel):
    """A tool the model may call, as OpenAI's API describes it (``type: function``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["function"] = "function"
    function: FunctionSpec


class GenerationOptions(BaseModel):
    """Everything about how to answer besides the messages. Unknown keys are ignored when
    read back (batch bookkeeping rides along in the same dict)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: tuple[str, ...] | None = Field(None, max_length=4)
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = Field(None, max_length=300)
    user: str | None = Field(None, max_length=256)
    response_format: dict[str, Any] | None = None
    tools: tuple[ToolSpec, ...] | None = Field(None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    def set_fields(self) -> list[str]:
        """The options this request sets, in declaration order."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]

    def upstream(self) -> dict[str, Any]:
        """Keyword arguments for an OpenAI-style SDK's ``chat.completions.create``: the
        options that are set, in the SDK's shapes."""
        out: dict[str, Any] = {}
        for name in self.set_fields():
            value = getattr(self, name)
            if name == "tools":
                value = [t.model_dump(exclude_none=True) for t in value]
            elif name == "stop":
                value = list(value)
            out[name] = value
        return out


FORWARDED = tuple(GenerationOptions.model_fields)
"""Every option the pipeline carries to the model."""


def parse_options(raw: dict[str, Any]) -> GenerationOptions:
    """The options of a request read back from the log. The edge validated them; an
    event from an older or foreign producer with a bad value loses only that value."""
    try:
        return GenerationOptions.model_validate(raw)
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
        return GenerationOptions.model_validate({k: v for k, v in raw.items() if k not in bad})
