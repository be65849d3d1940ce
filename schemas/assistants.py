"""Assistants: a tenant's named, versioned prompt templates with their model, options,
knowledge and tools; the event that publishes each version (assistants.v1) and the
HTTP bodies of ``/v1/assistants``.

A version is immutable: an edit, an archive, a restore and a rollback each publish a
new one. ``name`` is the assistant's id within its tenant and never changes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.events import AssistantRef, Envelope
from schemas.options import ToolSpec

__all__ = (
    "ASSISTANT_MODEL_PREFIX",
    "BUILTIN_VARIABLES",
    "MAX_VERSION",
    "NAME_PATTERN",
    "AssistantCreate",
    "AssistantDiff",
    "AssistantList",
    "AssistantOut",
    "AssistantPublished",
    "AssistantRef",
    "AssistantSpec",
    "AssistantVersionList",
    "ConversationAssistant",
    "ConversationAssistantSet",
    "FieldChange",
    "Sampling",
    "VariableSpec",
    "VariableValue",
    "parse_ref",
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
MAX_VERSION = 2**31 - 1
"""The highest version number: the stores keep it as a 32-bit integer."""
ASSISTANT_MODEL_PREFIX = "assistant:"
"""``model: "assistant:support-bot"`` on the OpenAI routes names an assistant."""

BUILTIN_VARIABLES: dict[str, str] = {
    "user.id": "the caller's user id",
    "user.name": "the caller's name (the part of the email before @; `dev` in dev mode)",
    "user.email": "the caller's email (empty in dev mode)",
    "tenant.id": "the caller's tenant id",
    "today": "today's date in UTC, YYYY-MM-DD",
    "now": "the time of the request in UTC, ISO 8601 to the second",
}
"""Variables every template may use; their values come from the credential and the
clock, never from the request."""

VariableValue = str | int | float | bool


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariableSpec(_In):
    """A variable a request supplies (``{{name}}`` in the instructions)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    type: Literal["string", "integer", "number", "boolean", "date", "enum"] = "string"
    description: str = Field("", max_length=300)
    required: bool = True
    default: VariableValue | None = None
    choices: tuple[str, ...] = Field((), max_length=50)
    max_length: int = Field(200, ge=1, le=2000, description="longest string value")

    @model_validator(mode="after")
    def _coherent(self) -> VariableSpec:
        if self.type == "enum" and not self.choices:
            raise ValueError(f"variable {self.name}: an enum needs choices")
        if self.type != "enum" and self.choices:
            raise ValueError(f"variable {self.name}: only an enum has choices")
        if any(len(c) > 100 or not c for c in self.choices):
            raise ValueError(f"variable {self.name}: choices are 1 to 100 characters")
        return self


class Sampling(_In):
    """The generation options an assistant fixes (a request may set them too)."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    stop: tuple[str, ...] | None = Field(None, max_length=4)


class AssistantSpec(_In):
    """What an admin writes; every field of a version but its number and bookkeeping."""

    title: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=1000)
    instructions: str = Field("", max_length=16_000, description="the system prompt, a "
                              "template: `{{user.name}}`, `{{today}}`, `{{variable}}`")
    variables: tuple[VariableSpec, ...] = Field((), max_length=32)
    model: str | None = Field(None, max_length=200, description="a model of GET "
                              "/v1/models; empty: the deployment's default")
    sampling: Sampling = Sampling()
    collections: tuple[str, ...] = Field(
        ("library",), max_length=8, description="what it may cite besides its own "
        "documents: `library` (the tenant's) and other assistants' names")
    web_search: bool = False
    tools: tuple[ToolSpec, ...] = Field((), max_length=32)
    starters: tuple[str, ...] = Field((), max_length=4, description="conversation "
                                      "starters the page offers")

    @field_validator("starters")
    @classmethod
    def _starters(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() or len(s) > 300 for s in v):
            raise ValueError("a starter is 1 to 300 characters")
        return v

    @field_validator("collections")
    @classmethod
    def _collections(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for c in v:
            if c != "library" and not re.fullmatch(NAME_PATTERN, c):
                raise ValueError(f"collection {c!r}: `library` or an assistant's name")
        return tuple(dict.fromkeys(v))

    @model_validator(mode="after")
    def _unique(self) -> AssistantSpec:
        names = [v.name for v in self.variables]
        if len(names) != len(set(names)):
            raise ValueError("variable names must be unique")
        tools = [t.function.name for t in self.tools]
        if len(tools) != len(set(tools)):
            raise ValueError("tool names must be unique")
        return self


class AssistantPublished(Envelope, frozen=True):
    """One version of an assistant (assistants.v1, compacted, keyed
    ``tenant:name:version``: every version is kept)."""

    type: Literal["assistant.published"] = "assistant.published"
    name: str
    version: int = Field(ge=1)
    archived: bool = False
    author_id: str
    spec: AssistantSpec


def parse_ref(value: str) -> tuple[str, int | None]:
    """``support-bot`` or ``support-bot@3`` as (name, version or None)."""
    name, at, version = value.partition("@")
    if not re.fullmatch(NAME_PATTERN, name) or (at and not (
            re.fullmatch(r"[1-9][0-9]{0,9}", version) and int(version) <= MAX_VERSION)):
        raise ValueError(f"{value!r} is not an assistant name (optionally @version)")
    return name, int(version) if at else None


class AssistantCreate(AssistantSpec):
    name: str = Field(pattern=NAME_PATTERN, description="its id: lower-case letters, digits "
                      "and -; never changes")


class AssistantOut(BaseModel):
    name: str
    version: int
    archived: bool
    author_id: str
    created_at: datetime
    spec: AssistantSpec


class AssistantList(BaseModel):
    data: list[AssistantOut]


class AssistantVersionList(BaseModel):
    data: list[AssistantOut]


class FieldChange(BaseModel):
    field: str
    before: object = None
    after: object = None


class AssistantDiff(BaseModel):
    name: str
    base: int
    other: int
    changes: list[FieldChange]


class ConversationAssistantSet(_In):
    version: int | None = Field(None, ge=1, le=MAX_VERSION,
                                description="empty: the newest version")


class ConversationAssistant(BaseModel):
    name: str
    version: int
    latest: int
