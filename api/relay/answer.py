"""An answer put together from its relayed events: what a protocol that sends an answer
whole (or sums it up at its end) needs of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.relay.events import Failed, Finished, Restarted, Started, Token, ToolCallPiece
from api.relay.render import Renderer

__all__ = ("Answer", "ToolCall")


@dataclass
class ToolCall:
    index: int
    id: str
    name: str = ""
    arguments: str = ""


@dataclass
class Answer(Renderer):
    """Renders nothing: it keeps the model, the text, the tool calls assembled from their
    pieces, and how the answer ended. A restart starts it over."""

    model: str
    parts: list[str] = field(default_factory=list)
    calls: dict[int, ToolCall] = field(default_factory=dict)
    finish: Finished | None = None
    error: Failed | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def tool_calls(self) -> list[ToolCall]:
        return [c for _, c in sorted(self.calls.items())]

    def call(self, e: ToolCallPiece) -> tuple[ToolCall, bool]:
        """Tool call ``e.index`` with piece ``e`` added, and whether ``e`` opened it."""
        call = self.calls.get(e.index)
        opened = call is None
        if call is None:
            call = self.calls[e.index] = ToolCall(e.index, e.call_id or f"call_{e.index}")
        call.name += e.name or ""
        call.arguments += e.arguments
        return call, opened

    def started(self, e: Started) -> bytes:
        if e.model:
            self.model = e.model
        return b""

    def token(self, e: Token) -> bytes:
        self.parts.append(e.text)
        return b""

    def tool_call(self, e: ToolCallPiece) -> bytes:
        self.call(e)
        return b""

    def restarted(self, e: Restarted) -> bytes:
        self.parts, self.calls = [], {}
        return b""

    def finished(self, e: Finished) -> bytes:
        self.finish = e
        return b""

    def failed(self, e: Failed) -> bytes:
        self.error = e
        return b""
