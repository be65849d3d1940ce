"""Inference: streams the answer of the chosen model as token chunks, then the response."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from agents import guard
from agents.chunker import coalesce
from agents.deps import StageDeps
from agents.providers.base import Delta, Prompt, estimate_tokens
from schemas.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    Citation,
    CitationsAttached,
    ContextBuilt,
    ResponseCompleted,
    TokensGenerated,
    Usage,
    conversation_key,
)
from schemas.topics import CONTEXTS, RESPONSES, TOKENS
from streams.errors import ProviderError
from streams.runtime.base import Emit, StageSpec

__all__ = ("assistant_message_id", "handle", "stage")


def assistant_message_id(request_id: str) -> str:
    # The same for every attempt, so a regenerated answer replaces, never duplicates.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chatstream:assistant:{request_id}"))


async def _refuse(text: str) -> AsyncIterator[Delta]:
    yield Delta(text=text)
    yield Delta(usage=Usage(completion_tokens=estimate_tokens(text)), finish_reason="blocked")


async def handle(ctx: ContextBuilt, deps: StageDeps) -> AsyncIterator[Emit]:
    req = ctx.request
    key = conversation_key(req.tenant_id, req.conversation_id)
    attempt = uuid.uuid4().hex[:12]
    seq = 0
    started = time.monotonic()
    common = {"tenant_id": req.tenant_id, "request_id": req.request_id,
              "conversation_id": req.conversation_id, "attempt": attempt}
    model = deps.catalogue.get(req.model)
    if model is None:
        yield Emit(TOKENS, key, AnswerFailed(**common, seq=1, code="unknown_model",
                                             message=f"model {req.model!r} is not configured"))
        return
    provider = deps.providers[model.provider]
    yield Emit(TOKENS, key, AnswerStarted(**common, seq=seq, model=model.name,
                                          provider=provider.name))
    citations = tuple(Citation(document_id=p.document_id, title=p.title, chunk=p.chunk)
                      for p in ctx.passages)
    if citations:
        seq += 1
        yield Emit(TOKENS, key, CitationsAttached(**common, seq=seq, citations=citations))
    if ctx.guard.allowed:
        prompt = Prompt(question=req.text, history=ctx.history, passages=ctx.passages,
                        max_tokens=req.options.get("max_tokens"),
                        temperature=req.options.get("temperature"))
        deltas = provider.stream(model, prompt)
    else:
        deltas = _refuse(guard.refusal(ctx.guard))
    parts: list[str] = []
    first_token_ms: float | None = None
    final = Delta(finish_reason="stop")
    try:
        async for chunk in coalesce(deltas, max_ms=deps.chunk_max_ms,
                                    max_chars=deps.chunk_max_chars):
            if chunk.final is not None:
                final = chunk.final
                continue
            if first_token_ms is None:
                first_token_ms = (time.monotonic() - started) * 1000
            parts.append(chunk.text)
            seq += 1
            yield Emit(TOKENS, key, TokensGenerated(**common, seq=seq, text=chunk.text))
    except ProviderError as exc:
        yield Emit(TOKENS, key, AnswerFailed(**common, seq=seq + 1, code="provider_error",
                                             message=str(exc)))
        return
    text = "".join(parts)
    usage = final.usage or Usage(completion_tokens=estimate_tokens(text))
    finish = final.finish_reason or "stop"
    message_id = assistant_message_id(req.request_id)
    seq += 1
    yield Emit(TOKENS, key, AnswerFinished(**common, seq=seq, message_id=message_id,
                                           usage=usage, finish_reason=finish))
    yield Emit(RESPONSES, key, ResponseCompleted(
        tenant_id=req.tenant_id, request_id=req.request_id, message_id=message_id,
        conversation_id=req.conversation_id, user_id=req.user_id, reply_to=req.message_id,
        prompt=req.text, text=text, model=model.name, provider=provider.name, usage=usage,
        finish_reason=finish, attempt=attempt, citations=citations, guard=ctx.guard,
        time_to_first_token_ms=first_token_ms,
        duration_ms=(time.monotonic() - started) * 1000,
    ))


def stage(deps: StageDeps) -> StageSpec:
    async def handler(event: ContextBuilt) -> AsyncIterator[Emit]:
        async for emit in handle(event, deps):
            yield emit
    return StageSpec("inference", (CONTEXTS,), handler, concurrency=deps.inference_concurrency)
