"""Inference: streams the answer of the chosen model as token chunks, then the response.

The model router (:mod:`agents.inference.failover`) picks the first model of the request's
fallback chain that answers; the history is fitted to that model's window
(:mod:`agents.inference.history`); a cancel on chat.control.v1 stops the answer
(:mod:`agents.inference.control`).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator

from pydantic import BaseModel

from agents import guard
from agents.deps import StageDeps
from agents.inference.chunker import coalesce
from agents.inference.control import CANCEL_LOOKBACK_S
from agents.inference.failover import ModelRouter, Served
from agents.inference.history import PromptBuilder
from agents.providers.base import Delta, ToolCallDelta, estimate_tokens
from agents.unanswered import answer_failed
from kernel.errors import ProviderError, ProvidersExhausted
from schemas.catalogue import ModelSpec
from schemas.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    Citation,
    CitationsAttached,
    ContextBuilt,
    ResponseCompleted,
    TokensGenerated,
    ToolCall,
    ToolCallGenerated,
    Usage,
    conversation_key,
)
from schemas.options import GenerationOptions, parse_options
from schemas.stages import INFERENCE
from schemas.topics import CONTROL, RESPONSES, TOKENS
from streams.runtime.base import Broadcast, Emit, StageSpec

__all__ = ("assistant_message_id", "handle", "stage")


def assistant_message_id(request_id: str) -> str:
    # The same for every attempt, so a regenerated answer replaces, never duplicates.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chatstream:assistant:{request_id}"))


def _attempt() -> str:
    return uuid.uuid4().hex[:12]


async def _refuse(model: ModelSpec, text: str) -> AsyncIterator[Served | Delta]:
    yield Served(model, "guard")
    yield Delta(text=text)
    yield Delta(usage=Usage(completion_tokens=estimate_tokens(text)), finish_reason="blocked")


def _fits(spec: ModelSpec, options: GenerationOptions, vision: bool) -> bool:
    """Whether a model of the fallback chain can honour the request: a fallback that
    cannot is skipped rather than answering as if the option had not been asked."""
    return all(spec.supports(o) for o in options.set_fields()) and (spec.vision or not vision)


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


async def handle(ctx: ContextBuilt, deps: StageDeps) -> AsyncIterator[Emit]:
    req = ctx.request
    key = conversation_key(req.tenant_id, req.conversation_id)

    def token(event: BaseModel) -> Emit:
        # To the accepting edge's partition: only that edge reads the answer live.
        return Emit(TOKENS, key, event, req.reply_partition)

    attempt = _attempt()
    seq = 0
    started = time.monotonic()

    def common() -> dict[str, str]:
        return {"tenant_id": req.tenant_id, "request_id": req.request_id,
                "conversation_id": req.conversation_id, "attempt": attempt}

    model = deps.catalogue.get(req.model)
    if model is None:
        yield token(AnswerFailed(**common(), seq=1, code="unknown_model",
                                 message=f"model {req.model!r} is not configured"))
        return
    citations = tuple(Citation(document_id=p.document_id, title=p.title, chunk=p.chunk,
                               url=p.url)
                      for p in ctx.passages)
    prompt = PromptBuilder(ctx, deps.store,
                           summary_timeout_s=deps.retry.first_token_timeout_s * 2)
    items: AsyncIterator[Served | Delta]
    if ctx.guard.allowed:
        router = ModelRouter(deps.providers, deps.breakers, deps.retry)
        options = parse_options(req.options)
        vision = bool(req.images) or any(t.images for t in ctx.history)
        chain = tuple(m for m in deps.catalogue.chain(model.name)
                      if m is model or _fits(m, options, vision))
        items = router.stream(chain, prompt, restart_on_failure=model.restart_on_failure)
    else:
        items = _refuse(model, guard.refusal(ctx.guard))
    served: Served | None = None
    parts: list[str] = []
    calls = _Calls()
    first_token_ms: float | None = None
    final = Delta(finish_reason="stop")
    with deps.cancels.track(req.tenant_id, req.request_id) as cancelled:
        try:
            async for chunk in coalesce(items, max_ms=deps.chunk_max_ms,
                                        max_chars=deps.chunk_max_chars, cancelled=cancelled):
                if isinstance(chunk.marker, Served):
                    if served is not None:  # a restart on the next model: a new attempt
                        attempt, seq, parts, calls = _attempt(), 0, [], _Calls()
                    served = chunk.marker
                    yield token(AnswerStarted(
                        **common(), seq=seq, model=served.model.name, provider=served.provider))
                    if citations:
                        seq += 1
                        yield token(CitationsAttached(**common(), seq=seq,
                                                      citations=citations))
                    continue
                if chunk.final is not None:
                    final = chunk.final
                    continue
                if first_token_ms is None:
                    first_token_ms = (time.monotonic() - started) * 1000
                seq += 1
                piece = chunk.tool_call
                if piece is not None:
                    calls.add(piece)
                    yield token(ToolCallGenerated(
                        **common(), seq=seq, index=piece.index, call_id=piece.id,
                        name=piece.name, arguments=piece.arguments))
                    continue
                parts.append(chunk.text)
                yield token(TokensGenerated(**common(), seq=seq, text=chunk.text))
        except ProviderError as exc:
            code = "provider_unavailable" if isinstance(exc, ProvidersExhausted) \
                else "provider_error"
            yield token(AnswerFailed(**common(), seq=seq + 1, code=code,
                                     message=str(exc)))
            return
    text = "".join(parts)
    tool_calls = calls.done()
    usage = final.usage or Usage(prompt_tokens=prompt.prompt_tokens, completion_tokens=(
        estimate_tokens(text) + sum(estimate_tokens(c.arguments) for c in tool_calls)))
    finish = final.finish_reason or "stop"
    message_id = assistant_message_id(req.request_id)
    seq += 1
    yield token(AnswerFinished(**common(), seq=seq, message_id=message_id,
                               usage=usage, finish_reason=finish))
    yield Emit(RESPONSES, key, ResponseCompleted(
        tenant_id=req.tenant_id, request_id=req.request_id, message_id=message_id,
        conversation_id=req.conversation_id, user_id=req.user_id, reply_to=req.message_id,
        prompt=req.text, text=text, model=served.model.name if served else model.name,
        provider=served.provider if served else model.provider_key, usage=usage,
        finish_reason=finish, attempt=attempt, citations=citations if served else (),
        guard=ctx.guard, tool_calls=tool_calls, time_to_first_token_ms=first_token_ms,
        duration_ms=(time.monotonic() - started) * 1000, requested_at=req.occurred_at,
        assistant=req.assistant,
    ))


def stage(deps: StageDeps) -> StageSpec:
    # Cancels reach every inference worker (see agents.inference.control): the one
    # generating the request stops it, the others remember it in case the request comes
    # to them later.
    control = Broadcast(CONTROL, deps.cancels.on_control, lookback_s=CANCEL_LOOKBACK_S)
    return StageSpec(INFERENCE.name, INFERENCE.inputs, functools.partial(handle, deps=deps),
                     concurrency=deps.inference_concurrency, broadcasts=(control,),
                     on_dead_letter=answer_failed)
