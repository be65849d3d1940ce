"""What a model provider is: a prompt in, a stream of text deltas out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from schemas.catalogue import ModelSpec
from schemas.events import HistoryTurn, Passage, Usage

__all__ = ("ChatProvider", "Delta", "Prompt", "estimate_tokens")


def estimate_tokens(text: str) -> int:
    # About four characters a token for English; close enough for usage and budgets.
    # (tiktoken would need its BPE files downloaded at run time, which an offline worker
    # cannot do; providers report their own counts in usage when they stream.)
    return max(1, (len(text) + 3) // 4) if text else 0


@dataclass(frozen=True)
class Prompt:
    """What a model is asked. ``task="answer"``: answer ``question`` given the rest.
    ``task="summarize"``: rewrite ``summary`` so it also covers the turns in ``history``."""

    question: str
    history: tuple[HistoryTurn, ...] = ()
    passages: tuple[Passage, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    summary: str | None = None
    task: Literal["answer", "summarize"] = "answer"


@dataclass(frozen=True)
class Delta:
    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


class ChatProvider(Protocol):
    name: str

    def stream(self, model: ModelSpec, prompt: Prompt) -> AsyncIterator[Delta]:
        """Text deltas, then one delta with the finish reason (and usage when known).
        Failures raise :class:`kernel.errors.ProviderError`; closing the iterator early
        closes the upstream request."""
        ...
