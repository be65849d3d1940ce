"""Retrieval: history, the prompt guard and passages, attached to the request."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agents import guard
from agents.deps import StageDeps
from schemas.events import ContextBuilt, HistoryTurn, MessageReceived, Passage, conversation_key
from schemas.topics import CONTEXTS, REQUESTS
from streams.runtime.base import Emit, StageSpec

__all__ = ("handle", "stage")


async def handle(request: MessageReceived, deps: StageDeps) -> AsyncIterator[Emit]:
    verdict = guard.check(request.text)
    history: tuple[HistoryTurn, ...] = ()
    passages: tuple[Passage, ...] = ()
    if deps.history_turns:
        # One more than wanted: persistence may already hold this very message.
        stored = await deps.store.list_messages(
            request.tenant_id, request.conversation_id, deps.history_turns + 1)
        history = tuple(
            HistoryTurn(role=m.role, text=m.text, message_id=m.id)
            for m in stored if m.id != request.message_id
        )[-deps.history_turns:]
    if verdict.allowed:
        passages = tuple(await deps.passages.search(request, deps.passages_limit))
    yield Emit(
        CONTEXTS,
        conversation_key(request.tenant_id, request.conversation_id),
        ContextBuilt(tenant_id=request.tenant_id, request=request, history=history,
                     passages=passages, guard=verdict),
    )


def stage(deps: StageDeps) -> StageSpec:
    async def handler(event: MessageReceived) -> AsyncIterator[Emit]:
        async for emit in handle(event, deps):
            yield emit
    return StageSpec("retrieval", (REQUESTS,), handler, concurrency=8)
