"""Retrieval: history, the prompt guard and passages, attached to the request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from agents import guard
from agents.deps import StageDeps
from schemas.events import (
    ContextBuilt,
    HistorySummary,
    HistoryTurn,
    MessageReceived,
    Passage,
    ToolCall,
    conversation_key,
)
from schemas.topics import CONTEXTS, REQUESTS
from stores.conversations.base import StoredMessage, StoredSummary
from streams.runtime.base import Emit, StageSpec

__all__ = ("handle", "stage")


def _after(summary: StoredSummary, stored: list[StoredMessage]) -> list[StoredMessage]:
    """The messages a summary does not cover yet."""
    ids = [m.id for m in stored]
    if summary.through_message_id in ids:
        return stored[ids.index(summary.through_message_id) + 1:]
    return [m for m in stored if m.created_at > summary.through_at]


async def _history(request: MessageReceived, deps: StageDeps
                   ) -> tuple[tuple[HistoryTurn, ...], HistorySummary | None]:
    # Both reads at once: each is a store round trip on the way to the first token.
    found, stored = await asyncio.gather(
        deps.store.get_summary(request.tenant_id, request.conversation_id),
        # One more than wanted: persistence may already hold this very message.
        deps.store.list_messages(request.tenant_id, request.conversation_id,
                                 deps.history_turns + 1))
    stored = [m for m in stored if m.id != request.message_id]
    summary: HistorySummary | None = None
    if found is not None:
        stored = _after(found, stored)
        summary = HistorySummary(text=found.text, through_message_id=found.through_message_id,
                                 through_at=found.through_at)
    history = tuple(HistoryTurn(role=m.role, text=m.text, message_id=m.id, at=m.created_at,
                                tool_calls=tuple(ToolCall.model_validate(c)
                                                 for c in m.tool_calls))
                    for m in stored)[-deps.history_turns:]
    return history, summary


async def _given(history: tuple[HistoryTurn, ...]
                 ) -> tuple[tuple[HistoryTurn, ...], HistorySummary | None]:
    return history, None


async def _no_passages() -> list[Passage]:
    return []


async def handle(request: MessageReceived, deps: StageDeps) -> AsyncIterator[Emit]:
    verdict = guard.check(request.text)
    if request.history is not None:
        reading = _given(request.history)  # the client sent the whole conversation
    elif deps.history_turns:
        reading = _history(request, deps)
    else:
        reading = _given(())
    # History and passages are independent: fetched concurrently, not one after another.
    (history, summary), passages = await asyncio.gather(
        reading,
        deps.passages.search(request, deps.passages_limit) if verdict.allowed
        else _no_passages())
    yield Emit(
        CONTEXTS,
        conversation_key(request.tenant_id, request.conversation_id),
        ContextBuilt(tenant_id=request.tenant_id, request=request, history=history,
                     passages=tuple(passages), guard=verdict, summary=summary),
    )


def stage(deps: StageDeps) -> StageSpec:
    async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
        async for emit in handle(event, deps):
            yield emit
    return StageSpec("retrieval", (REQUESTS,), handler, concurrency=8)
