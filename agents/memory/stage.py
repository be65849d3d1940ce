"""The memory stage (its own consumer group over chat.responses.v1): a finished exchange
whose request allowed memory is read for facts about the user (agents/memory/extract.py),
which are kept per user and tenant with the message they came from, and indexed in the
user's memory scope for recall by meaning.

A fact already kept is not kept twice; a fact of a slot (a name, a home, a language)
replaces the user's earlier one. Memory ids are derived from the request and the fact,
so a redelivered response writes the same memories.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agents.embedders.base import Embedder
from agents.memory.extract import Fact, propose_facts, same_fact
from agents.memory.model import Proposer
from schemas.events import ResponseCompleted
from schemas.stages import MEMORY
from stores.memories.base import (
    MAX_MEMORIES,
    Memory,
    MemoryStore,
    memory_chunk,
    memory_document,
)
from stores.vectors.base import VectorIndex
from streams.runtime.base import Emit, StageSpec

__all__ = ("MemoryDeps", "handle", "stage")

log = logging.getLogger(__name__)


async def _by_rules(user_text: str) -> list[Fact]:
    return propose_facts(user_text)


@dataclass(frozen=True)
class MemoryDeps:
    store: MemoryStore
    index: VectorIndex
    embedder: Embedder
    # Who proposes facts: the offline rules, or a model by a prompt (MEMORY_MODEL).
    propose: Proposer = _by_rules


async def handle(event: ResponseCompleted, deps: MemoryDeps) -> AsyncIterator[Emit]:
    if not event.memory or not event.guard.allowed:
        return
    tenant, user = event.tenant_id, event.user_id
    # Paused (or turned off for the tenant) after the message was sent: nothing is kept.
    if not (await deps.store.settings(tenant, user)).active:
        return
    facts = await deps.propose(event.prompt)
    if not facts:
        return
    kept = await deps.store.list_memories(tenant, user)
    for fact in facts:
        if any(same_fact(m.text, fact.text) for m in kept):
            continue
        if fact.slot is not None:
            for old in [m for m in kept if fact.replaces(m.text)]:
                await deps.index.delete_document(tenant, memory_document(old.id))
                await deps.store.delete(tenant, user, old.id)
                kept.remove(old)
        if len(kept) >= MAX_MEMORIES:
            log.info("memory: %s:%s keeps %d memories already", tenant, user, len(kept))
            break
        memory = Memory(
            tenant_id=tenant, user_id=user,
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"memory:{event.request_id}:{fact.text}")),
            text=fact.text, created_at=event.occurred_at, updated_at=event.occurred_at,
            source_conversation_id=event.conversation_id, source_message_id=event.reply_to)
        [vector] = await deps.embedder.embed([memory.text], tenant)
        # Indexed first: a memory listed is always one recall can find.
        await deps.index.upsert([memory_chunk(memory, vector)])
        await deps.store.add(memory)
        kept.append(memory)
    return
    yield  # an async generator that emits nothing: the outcome is in the store


def stage(deps: MemoryDeps) -> StageSpec:
    return StageSpec(MEMORY.name, MEMORY.inputs, functools.partial(handle, deps=deps),
                     concurrency=4)
