"""Inference: streams the answer of the chosen model as token chunks, then the response.

The model router (:mod:`agents.inference.failover`) picks the first model of the request's
fallback chain that answers; the history is fitted to that model's window
(:mod:`agents.inference.history`); the answer's events are made by
:mod:`agents.inference.answer`; a cancel on chat.control.v1 stops the answer
(:mod:`agents.inference.control`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from pydantic import BaseModel

from agents import guard
from agents.deps import StageDeps
from agents.inference.answer import Answer, assistant_message_id
from agents.inference.chunker import coalesce
from agents.inference.control import CANCEL_LOOKBACK_S
from agents.inference.failover import ModelRouter, Served
from agents.inference.history import PromptBuilder
from agents.inference.titles import first_turn, write_title
from agents.providers.base import Delta
from agents.unanswered import answer_failed
from kernel.errors import ProviderError
from schemas.catalogue import ModelSpec
from schemas.events import Citation, ContextBuilt, Usage, conversation_key
from schemas.options import GenerationOptions, parse_options
from schemas.stages import INFERENCE
from schemas.topics import CONTROL, RESPONSES, TOKENS
from streams.runtime.base import Broadcast, Emit, StageSpec

__all__ = ("assistant_message_id", "handle", "stage")


_EXCERPT_CHARS = 160


def _excerpt(text: str) -> str:
    """A passage's first words, shown under a citation without fetching the passage."""
    flat = " ".join(text.split())
    if len(flat) <= _EXCERPT_CHARS:
        return flat
    return flat[:_EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"


async def _refuse(model: ModelSpec) -> AsyncIterator[Served | Delta]:
    # No text: the refusal travels on the finish event, so no protocol shows it as an answer.
    yield Served(model, "guard")
    yield Delta(usage=Usage(), finish_reason="blocked")


def _fits(spec: ModelSpec, options: GenerationOptions, vision: bool) -> bool:
    """Whether a model of the fallback chain can honour the request: a fallback that
    cannot is skipped rather than answering as if the option had not been asked."""
    return all(spec.supports(o) for o in options.set_fields()) and (spec.vision or not vision)


def _chain(ctx: ContextBuilt, model: ModelSpec, deps: StageDeps) -> tuple[ModelSpec, ...]:
    req = ctx.request
    options = parse_options(req.options)
    vision = bool(req.images) or any(t.images for t in ctx.history)
    return tuple(m for m in deps.catalogue.chain(model.name)
                 if m is model or _fits(m, options, vision))


async def handle(ctx: ContextBuilt, deps: StageDeps) -> AsyncIterator[Emit]:
    req = ctx.request
    key = conversation_key(req.tenant_id, req.conversation_id)

    def token(event: BaseModel) -> Emit:
        # To the accepting edge's partition: only that edge reads the answer live.
        return Emit(TOKENS, key, event, req.reply_partition)

    answer = Answer(ctx, tuple(Citation(document_id=p.document_id, title=p.title,
                                        chunk=p.chunk, url=p.url, page=p.page,
                                        excerpt=_excerpt(p.text)) for p in ctx.passages))
    model = deps.catalogue.get(req.model)
    if model is None:
        yield token(answer.unknown_model())
        return
    prompt = PromptBuilder(ctx, deps.store, cache=deps.summaries,
                           summary_timeout_s=deps.retry.first_token_timeout_s * 2)
    items: AsyncIterator[Served | Delta]
    if ctx.guard.allowed:
        router = ModelRouter(deps.providers, deps.breakers, deps.retry, tenant=req.tenant_id)
        items = router.stream(_chain(ctx, model, deps), prompt,
                              restart_on_failure=model.restart_on_failure)
    else:
        items = _refuse(model)
    with deps.cancels.track(req.tenant_id, req.request_id) as cancelled:
        try:
            async for chunk in coalesce(items, max_ms=deps.chunk_max_ms,
                                        max_chars=deps.chunk_max_chars, cancelled=cancelled):
                if isinstance(chunk.marker, Served):
                    for event in answer.start(chunk.marker, prompt.fitted):
                        yield token(event)
                elif chunk.final is not None:
                    answer.final = chunk.final
                else:
                    yield token(answer.piece(chunk.text, chunk.tool_call))
        except ProviderError as exc:
            yield token(answer.failed(exc))
            return
    done, response = answer.finished(
        prompt.prompt_tokens, prompt.extra_usage, model.name, model.provider_key,
        refusal=None if ctx.guard.allowed else guard.refusal(ctx.guard))
    yield token(done)
    yield Emit(RESPONSES, key, response)
    served = answer.served
    if served is not None and response.finish_reason in ("stop", "length") \
            and first_turn(ctx):
        provider = deps.providers.get(served.model.provider_key)
        if provider is not None:
            await write_title(ctx, response.text, served.model, provider, deps.store,
                              deps.retry.first_token_timeout_s * 2)


def stage(deps: StageDeps) -> StageSpec:
    # Cancels reach every inference worker (see agents.inference.control): the one
    # generating the request stops it, the others remember it in case the request comes
    # to them later.
    control = Broadcast(CONTROL, deps.cancels.on_control, lookback_s=CANCEL_LOOKBACK_S)
    return StageSpec(INFERENCE.name, INFERENCE.inputs, functools.partial(handle, deps=deps),
                     concurrency=deps.inference_concurrency, broadcasts=(control,),
                     on_dead_letter=answer_failed)
