"""An answer's events as the relay keeps them: read once from chat.tokens.v1, rendered by
each protocol (:mod:`api.relay.render`).

Every edge numbers an answer's events by their position in it (``id``) and reads its
partition in the same log order, so every edge (and a rebuild from the log after the
relay let it go) gives each event the same id. Only what a protocol renders is kept, in
slotted objects: the relay keeps every event of every answer for a resume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ("RELAYED", "TERMINAL", "Cited", "Failed", "Finished", "Relayed", "Restarted",
           "Started", "Token", "ToolCallPiece", "size_of")


@dataclass(frozen=True, slots=True)
class Started:
    """A generation run began on ``model`` (again, after a ``Restarted``). ``history``:
    how many turns were folded into a summary and left out to fit its window."""

    kind: ClassVar[str] = "status"
    id: int
    model: str
    provider: str
    summarized_turns: int = 0
    dropped_turns: int = 0


@dataclass(frozen=True, slots=True)
class Cited:
    kind: ClassVar[str] = "citations"
    id: int
    citations: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Token:
    kind: ClassVar[str] = "token"
    id: int
    text: str
    seq: int


@dataclass(frozen=True, slots=True)
class ToolCallPiece:
    """A piece of tool call ``index``: its first piece names it (``call_id``, ``name``),
    the following ones add to its JSON ``arguments``."""

    kind: ClassVar[str] = "tool_calls"
    id: int
    index: int
    call_id: str | None
    name: str | None
    arguments: str
    seq: int


@dataclass(frozen=True, slots=True)
class Restarted:
    """A new generation run after a crash: what the client has of the answer is void."""

    kind: ClassVar[str] = "restart"
    id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Finished:
    kind: ClassVar[str] = "done"
    id: int
    message_id: str | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    refusal: str | None = None
    """The prompt guard's reason, told in place of an answer (``blocked``)."""

    @property
    def blocked(self) -> bool:
        """The prompt guard (or the model's own filter) withheld the answer."""
        return self.finish_reason in ("blocked", "content_filter")


@dataclass(frozen=True, slots=True)
class Failed:
    """The answer ended in an error. ``status`` and ``error_type`` say what an HTTP API
    would answer (e.g. 429 ``rate_limit_error``), when the pipeline knows it; protocols
    with errors of that shape render them."""

    kind: ClassVar[str] = "error"
    id: int
    code: str
    message: str
    status: int | None = None
    error_type: str | None = None
    param: str | None = None
    retry_after: float | None = None


Relayed = Started | Cited | Token | ToolCallPiece | Restarted | Finished | Failed


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _started(raw: Mapping[str, Any], id_: int) -> Started:
    fitted = raw.get("history")
    fitted = fitted if isinstance(fitted, dict) else {}
    return Started(id_, _str(raw.get("model")), _str(raw.get("provider")),
                   _int(fitted.get("summarized_turns")), _int(fitted.get("dropped_turns")))


def _cited(raw: Mapping[str, Any], id_: int) -> Cited:
    found = raw.get("citations")
    return Cited(id_, tuple(c for c in found if isinstance(c, dict))
                 if isinstance(found, list) else ())


def _token(raw: Mapping[str, Any], id_: int) -> Token:
    return Token(id_, _str(raw.get("text")), _int(raw.get("seq")))


def _tool_call(raw: Mapping[str, Any], id_: int) -> ToolCallPiece:
    return ToolCallPiece(id_, _int(raw.get("index")), _opt(raw.get("call_id")),
                         _opt(raw.get("name")), _str(raw.get("arguments")),
                         _int(raw.get("seq")))


def _finished(raw: Mapping[str, Any], id_: int) -> Finished:
    usage = raw.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Finished(id_, _opt(raw.get("message_id")), _int(usage.get("prompt_tokens")),
                    _int(usage.get("completion_tokens")),
                    _str(raw.get("finish_reason")) or "stop", _opt(raw.get("refusal")))


def _failed(raw: Mapping[str, Any], id_: int) -> Failed:
    status, wait = raw.get("status"), raw.get("retry_after_s")
    return Failed(id_, _str(raw.get("code")) or "error", _str(raw.get("message")),
                  status if isinstance(status, int) else None, _opt(raw.get("error_type")),
                  _opt(raw.get("param")), wait if isinstance(wait, int | float) else None)


RELAYED: dict[str, Callable[[Mapping[str, Any], int], Relayed]] = {
    "answer.started": _started,
    "citations.attached": _cited,
    "tokens.generated": _token,
    "tool_call.generated": _tool_call,
    "answer.finished": _finished,
    "answer.failed": _failed,
}
"""Token event type -> the relayed event it becomes, given its id. A new event type on
chat.tokens.v1 is relayed once it has an entry here; types without one are skipped (an
older edge ignores newer events)."""

TERMINAL = frozenset({"answer.finished", "answer.failed"})
"""The token event types that end an answer."""

# What a kept event costs in memory beyond the text it carries (the slotted object, its
# ints and its place in the answer's list), so the relay's byte bound is close to what
# it really holds (bench/relay_memory.py measures it).
_OVERHEAD = 120
_CITATION = 400


def size_of(event: Relayed) -> int:
    """About how many bytes of memory ``event`` holds."""
    if isinstance(event, Token):
        return _OVERHEAD + len(event.text)
    if isinstance(event, ToolCallPiece):
        return _OVERHEAD + len(event.arguments) + len(event.name or "") + 40
    if isinstance(event, Cited):
        return _OVERHEAD + _CITATION * len(event.citations)
    if isinstance(event, Failed):
        return _OVERHEAD + len(event.message)
    return _OVERHEAD
