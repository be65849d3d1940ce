"""Metrics and span attributes read from the events a stage emits, so the pure handlers
stay free of telemetry."""

from __future__ import annotations

from kernel.telemetry import tracing
from kernel.telemetry.metrics import (
    ANSWER_SECONDS,
    GEN_AI_DURATION,
    GEN_AI_TOKENS,
    STAGE_EVENTS,
    TOKENS_OUT,
    TTFT_SECONDS,
)
from schemas.events import ResponseCompleted
from streams.runtime.base import Emit

__all__ = ("observe_emit",)


def observe_emit(stage: str, emit: Emit) -> None:
    STAGE_EVENTS.labels(stage, emit.topic.name, "out").inc()
    event = emit.event
    # A completed answer (chat.responses.v1) carries its model, provider, usage, timings.
    # Tested by type: getattr of a field a pydantic model lacks goes through its slow
    # __getattr__, and this runs for every token event.
    if not isinstance(event, ResponseCompleted):
        return
    duration_ms, provider, model, usage = (event.duration_ms, event.provider, event.model,
                                           event.usage)
    tracing.annotate(tracing.current_span(), event)
    ttft_ms = event.time_to_first_token_ms
    if ttft_ms is not None:
        TTFT_SECONDS.labels(model, provider).observe(ttft_ms / 1000)
    ANSWER_SECONDS.labels(model, provider).observe(duration_ms / 1000)
    # The answer event names the catalogue model that answered: request and response alike.
    labels = ("chat", provider, model, model)
    GEN_AI_DURATION.labels(*labels).observe(duration_ms / 1000)
    TOKENS_OUT.labels(model, provider).inc(usage.completion_tokens)
    GEN_AI_TOKENS.labels(*labels, "input").observe(usage.prompt_tokens)
    GEN_AI_TOKENS.labels(*labels, "output").observe(usage.completion_tokens)
