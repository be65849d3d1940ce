"""One answer as it is generated: the token events it becomes on chat.tokens.v1, and the
completed response it ends as on chat.responses.v1.

The router's stream (a model starting, then its deltas) comes in; an :class:`Answer`
numbers the events of each attempt, assembles the text and tool calls, and knows how
the answer ended.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from agents.inference.failover import Served, TooLong, refused
from agents.providers.base import Delta, ToolCallDelta, estimate_tokens
from kernel.errors import ProviderError, ProvidersExhausted
from schemas.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    Citation,
    CitationsAttached,
    ContextBuilt,
    HistoryFitted,
    ResponseCompleted,
    TokensGenerated,
    ToolCall,
    ToolCallGenerated,
    Usage,
)

__all__ = ("Answer", "assistant_message_id", "failure_of")


def assistant_message_id(request_id: str) -> str:
    # The same for every attempt, so a regenerated answer replaces, never duplicates.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chatstream:assistant:{request_id}"))


def _attempt() -> str:
    return uuid.uuid4().hex[:12]


class _Calls:
    """The tool calls of an answer, assembled from their pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}

    def add(self, piece: ToolCallDelta) -> None:
        call = self._calls.setdefault(piece.index, ["", "", ""])
        if piece.id:
            call[0] = piece.id
        if piece.name:
            call[1] += piece.name
        call[2] += piece.arguments

    def done(self) -> tuple[ToolCall, ...]:
        return tuple(ToolCall(id=c[0] or f"call_{i}", name=c[1], arguments=c[2])
                     for i, c in sorted(self._calls.items()))


def failure_of(exc: ProviderError, started: bool) -> dict[str, object]:
    """An answer's failure as the fields of :class:`AnswerFailed`: what the client is
    told, and with which HTTP status."""
    if isinstance(exc, ProvidersExhausted):
        return {"code": "provider_unavailable", "message": str(exc), "status": exc.status,
                "error_type": "invalid_request_error" if exc.status == 400
                else "rate_limit_error" if exc.status == 429 else "server_error",
                "param": "messages" if exc.status == 400 else None,
                "retry_after_s": exc.retry_after}
    if not started and (refused(exc) or isinstance(exc, TooLong)):
        # The upstream refused the request itself: the client hears what it said.
        return {"code": exc.code or "upstream_refused", "message": exc.detail or str(exc),
                "status": exc.status, "error_type": exc.type or "invalid_request_error",
                "param": exc.param}
    # Mid-answer: the upstream's own status if its error event gave one.
    status = exc.status if exc.status is not None and exc.status >= 400 else 502
    return {"code": "provider_error", "message": str(exc), "status": status,
            "error_type": exc.type or "server_error", "param": None}


@dataclass
class Answer:
    """The state of one request's answer across the attempts of its chain."""

    ctx: ContextBuilt
    citations: tuple[Citation, ...]
    attempt: str = field(default_factory=_attempt)
    seq: int = 0
    served: Served | None = None
    parts: list[str] = field(default_factory=list)
    calls: _Calls = field(default_factory=_Calls)
    final: Delta = field(default_factory=lambda: Delta(finish_reason="stop"))
    started_at: float = field(default_factory=time.monotonic)
    first_token_ms: float | None = None

    def _common(self) -> dict[str, str]:
        req = self.ctx.request
        return {"tenant_id": req.tenant_id, "request_id": req.request_id,
                "conversation_id": req.conversation_id, "attempt": self.attempt}

    def start(self, served: Served, history: HistoryFitted | None,
              ) -> list[AnswerStarted | CitationsAttached]:
        if self.served is not None:  # a restart on the next model: a new attempt
            self.attempt, self.seq, self.parts, self.calls = _attempt(), 0, [], _Calls()
        self.served = served
        out: list[AnswerStarted | CitationsAttached] = [AnswerStarted(
            **self._common(), seq=self.seq, model=served.model.name,
            provider=served.provider, history=history)]
        if self.citations:
            self.seq += 1
            out.append(CitationsAttached(**self._common(), seq=self.seq,
                                         citations=self.citations))
        return out

    def piece(self, text: str, tool_call: ToolCallDelta | None,
              ) -> TokensGenerated | ToolCallGenerated:
        if self.first_token_ms is None:
            self.first_token_ms = (time.monotonic() - self.started_at) * 1000
        self.seq += 1
        if tool_call is not None:
            self.calls.add(tool_call)
            return ToolCallGenerated(**self._common(), seq=self.seq, index=tool_call.index,
                                     call_id=tool_call.id, name=tool_call.name,
                                     arguments=tool_call.arguments)
        self.parts.append(text)
        return TokensGenerated(**self._common(), seq=self.seq, text=text)

    def failed(self, exc: ProviderError) -> AnswerFailed:
        self.seq += 1
        fields = failure_of(exc, started=self.served is not None)
        return AnswerFailed(**self._common(), seq=self.seq, **fields)

    def unknown_model(self) -> AnswerFailed:
        model = self.ctx.request.model
        return AnswerFailed(**self._common(), seq=1, code="unknown_model", status=404,
                            error_type="invalid_request_error", param="model",
                            message=f"model {model!r} is not configured")

    def finished(self, prompt_tokens: int, extra: Usage | None,
                 fallback_model: str, fallback_provider: str, refusal: str | None = None,
                 ) -> tuple[AnswerFinished, ResponseCompleted]:
        """The answer's last token event and the completed response. ``extra``: the
        usage of the request's other upstream calls (a summary), added to the answer's;
        ``refusal``: the prompt guard's, said in place of an answer (and stored as its
        text)."""
        req = self.ctx.request
        text = "".join(self.parts) or refusal or ""
        tool_calls = self.calls.done()
        usage = self.final.usage or Usage(prompt_tokens=prompt_tokens, completion_tokens=(
            estimate_tokens(text) + sum(estimate_tokens(c.arguments) for c in tool_calls)))
        if extra is not None:
            usage = Usage(prompt_tokens=usage.prompt_tokens + extra.prompt_tokens,
                          completion_tokens=usage.completion_tokens + extra.completion_tokens)
        finish = self.final.finish_reason or "stop"
        message_id = assistant_message_id(req.request_id)
        self.seq += 1
        served = self.served
        done = AnswerFinished(**self._common(), seq=self.seq, message_id=message_id,
                              usage=usage, finish_reason=finish, refusal=refusal)
        response = ResponseCompleted(
            tenant_id=req.tenant_id, request_id=req.request_id, message_id=message_id,
            conversation_id=req.conversation_id, user_id=req.user_id,
            reply_to=req.message_id, prompt=req.text, text=text,
            model=served.model.name if served else fallback_model,
            provider=served.provider if served else fallback_provider, usage=usage,
            finish_reason=finish, attempt=self.attempt,
            citations=self.citations if served else (), guard=self.ctx.guard,
            tool_calls=tool_calls, time_to_first_token_ms=self.first_token_ms,
            duration_ms=(time.monotonic() - self.started_at) * 1000,
            requested_at=req.occurred_at, assistant=req.assistant, memory=req.memory)
        return done, response
