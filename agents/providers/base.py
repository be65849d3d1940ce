"""What a model provider is: a prompt in, a stream of text deltas out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from kernel.tokens import estimate_tokens
from schemas.catalogue import ModelSpec
from schemas.events import HistoryTurn, ImagePart, Passage, Usage
from schemas.options import GenerationOptions

__all__ = ("ChatProvider", "CountsTokens", "Delta", "MessageCounter", "Prompt", "ToolCallDelta",
           "estimate_tokens")


@dataclass(frozen=True)
class Prompt:
    """What a model is asked. ``task="answer"``: answer ``question`` given the rest.
    ``task="summarize"``: rewrite ``summary`` so it also covers the turns in ``history``.
    ``task="title"``: a few words naming a conversation that starts with ``question``
    (answered by ``history``'s one turn)."""

    question: str
    history: tuple[HistoryTurn, ...] = ()
    passages: tuple[Passage, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    summary: str | None = None
    task: Literal["answer", "summarize", "title"] = "answer"
    options: GenerationOptions = field(default_factory=GenerationOptions)
    """The request's other options (tools, stop, seed, ...); ``max_tokens`` and
    ``temperature`` above take precedence (a summary sets its own)."""
    tool_rounds: tuple[HistoryTurn, ...] = ()
    """Tool calls made after ``question``, with their results: the model goes on."""
    images: tuple[ImagePart, ...] = ()
    """Images sent with ``question``."""
    instructions: str | None = None
    name: str | None = None
    """The name the client gave ``question`` (OpenAI's message ``name``)."""
    """The assistant's instructions (rendered by retrieval): the system prompt's start."""


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of tool call ``index``: the first names it, the rest add arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Delta:
    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_call: ToolCallDelta | None = None


class ChatProvider(Protocol):
    name: str

    def stream(self, model: ModelSpec, prompt: Prompt) -> AsyncIterator[Delta]:
        """Text deltas, then one delta with the finish reason (and usage when known).
        Failures raise :class:`kernel.errors.ProviderError`; closing the iterator early
        closes the upstream request."""
        ...


MessageCounter = Callable[[list[dict[str, str]]], int]
"""Tokens of chat messages, framing included."""


@runtime_checkable
class CountsTokens(Protocol):
    """A provider that knows its models' tokenizers (a model run in process): history is
    fitted to the window with its counts instead of the four-characters estimate."""

    async def token_counter(self, spec: ModelSpec) -> MessageCounter: ...
