"""Retrieval: history, the prompt guard and passages, attached to the request."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from agents import guard
from agents.deps import StageDeps
from agents.retrieval.assistant import assistant_of, instructions_of, typed_values
from agents.retrieval.web import passages_of, web_query
from agents.unanswered import answer_failed
from schemas.events import (
    ContextBuilt,
    HistorySummary,
    HistoryTurn,
    MessageReceived,
    Passage,
    ToolCall,
    conversation_key,
)
from schemas.stages import RETRIEVAL
from schemas.topics import ASSISTANTS, CONTEXTS
from stores.conversations.base import StoredMessage, StoredSummary
from stores.conversations.branches import branch, parents
from streams.runtime.base import Broadcast, Emit, StageSpec

__all__ = ("cap_history", "handle", "stage")


# A branch's history may need more than the last turns read: edits and regenerated answers
# of other branches sit among them. Read at most this many when it does.
_BRANCH_READ = 400


def _after(summary: StoredSummary, path: list[StoredMessage], whole: bool,
           ) -> list[StoredMessage] | None:
    """The messages of the branch a summary does not cover yet; None when the summary is
    of another branch (the branch was read to its start and does not hold its message)."""
    ids = [m.id for m in path]
    if summary.through_message_id in ids:
        return path[ids.index(summary.through_message_id) + 1:]
    if whole:
        return None
    return [m for m in path if m.created_at > summary.through_at]


def _branch(request: MessageReceived, stored: list[StoredMessage]
            ) -> tuple[list[StoredMessage], bool]:
    """The branch the request follows, oldest first, and whether it reached the start."""
    if request.parent_id == "":
        return [], True
    tip = request.parent_id
    if tip is None:  # after the newest message: the request's own may be stored already
        others = [m for m in stored if m.id != request.message_id]
        tip = others[-1].id if others else None
    path = branch(stored, tip)
    whole = not path or parents(stored)[path[0].id] is None
    return path, whole and (tip is None or bool(path))


async def _history(request: MessageReceived, deps: StageDeps
                   ) -> tuple[tuple[HistoryTurn, ...], HistorySummary | None]:
    # Both reads at once: each is a store round trip on the way to the first token.
    want = deps.history_turns + 1  # one more: persistence may hold this very message
    found, stored = await asyncio.gather(
        deps.store.get_summary(request.tenant_id, request.conversation_id),
        deps.store.list_messages(request.tenant_id, request.conversation_id, want))
    path, whole = _branch(request, stored)
    if not whole and len(path) < deps.history_turns and len(stored) >= want:
        # Other branches took room among the last turns: read further back.
        stored = await deps.store.list_messages(request.tenant_id, request.conversation_id,
                                                max(want, _BRANCH_READ))
        path, whole = _branch(request, stored)
    summary: HistorySummary | None = None
    if found is not None:
        after = _after(found, path, whole)
        if after is not None:
            path = after
            summary = HistorySummary(text=found.text,
                                     through_message_id=found.through_message_id,
                                     through_at=found.through_at)
    stored = path
    history = tuple(HistoryTurn(role=m.role, text=m.text, message_id=m.id, at=m.created_at,
                                tool_calls=tuple(ToolCall.model_validate(c)
                                                 for c in m.tool_calls))
                    for m in stored)[-deps.history_turns:]
    return history, summary


async def _given(history: tuple[HistoryTurn, ...]
                 ) -> tuple[tuple[HistoryTurn, ...], HistorySummary | None]:
    return history, None


def cap_history(history: tuple[HistoryTurn, ...], max_bytes: int
                ) -> tuple[tuple[HistoryTurn, ...], int]:
    """The system prompt and the most recent turns whose text fits ``max_bytes`` (UTF-8),
    and how many older turns were left out; the newest turn alone over the budget keeps
    its end. Bounds the context event, whatever the client sent."""
    pinned = [t for t in history if t.role == "system"]
    left = max_bytes - sum(len(t.text.encode()) for t in pinned)
    turns = [t for t in history if t.role != "system"]
    kept: list[HistoryTurn] = []
    for turn in reversed(turns):
        size = len(turn.text.encode())
        if size > left:
            if not kept and left > 0:  # the last turn before the question: its end counts
                tail = turn.text.encode()[-left:].decode(errors="ignore")
                kept.append(turn.model_copy(update={"text": tail}))
            break
        kept.append(turn)
        left -= size
    else:
        return history, 0  # all of it fits, as it came
    return (*pinned, *reversed(kept)), len(turns) - len(kept)


async def _no_passages() -> list[Passage]:
    return []


log = logging.getLogger(__name__)


async def _web(request: MessageReceived, history: tuple[HistoryTurn, ...],
               deps: StageDeps) -> list[Passage]:
    """The web results a message asked for, as passages; none when the search fails:
    the answer then comes from what else there is, never not at all."""
    if not request.web_search or deps.web is None:
        return []
    try:
        results = await deps.web.search(web_query(request.text, history), deps.web_results)
    except Exception as exc:  # any provider failure: the answer goes on without it
        log.warning("web search (%s) failed for %s: %s", deps.web.name, request.request_id,
                    type(exc).__name__)
        return []
    return passages_of(results)


_CONCURRENCY = 8
"""Requests one retrieval worker handles at once."""

# The guard runs in threads of its own, one per request the stage handles: they wait for
# the encoder in their tenant's turn (agents/guard/lane.py), and in a shared pool, one
# tenant's waiting requests would hold another's guard call from starting at all.
_GUARDING = ThreadPoolExecutor(max_workers=_CONCURRENCY, thread_name_prefix="guard")

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def _guarding(call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    return await asyncio.get_running_loop().run_in_executor(
        _GUARDING, functools.partial(call, *args, **kwargs))


_WITHHELD = "[withheld: the prompt guard flagged this message]"


def _guarded(history: tuple[HistoryTurn, ...], reads: guard.Reads) -> tuple[HistoryTurn, ...]:
    """Stored user turns the guard flags stay out of the prompt: a refused injection
    would otherwise reach the model with the next, innocent question."""
    return tuple(t.model_copy(update={"text": _WITHHELD})
                 if t.role == "user" and guard.check(t.text, reads).category is not None
                 else t for t in history)


def _clean(passages: list[Passage], reads: guard.Reads) -> list[Passage]:
    """Passages the guard flags are left out: an upload must not instruct the model."""
    return [p for p in passages if guard.check(p.text, reads).category is None]


async def handle(request: MessageReceived, deps: StageDeps) -> AsyncIterator[Emit]:
    assistant = await assistant_of(request, deps)
    instructions = instructions_of(request, assistant) if assistant is not None else None
    mode = request.guard_mode or deps.guard_mode
    # The guard in a thread: its encoder takes tens of milliseconds or more for a text the
    # linear model does not clear, and lets go of the GIL meanwhile.
    own = guard.Reads(queued=guard.Queued.here(request.tenant_id))
    judged = await _guarding(
        guard.judge, request, mode, typed_values(request, assistant) if assistant else (), own)
    verdict, request = judged.verdict, judged.request
    if request.system:
        # The conversation's own system prompt, after its assistant's: the person's
        # words, so guarded like their message.
        instructions = "\n\n".join(filter(None, (instructions, request.system)))
        flagged = await _guarding(guard.check, request.system, own) if mode != "off" else None
        if verdict.category is None and flagged is not None and flagged.category is not None:
            verdict = flagged.model_copy(update={
                "reason": f"{flagged.reason}, in the conversation's system prompt",
                "mode": mode, "allowed": mode != "block"})
    if request.history is not None:
        reading = _given(request.history)  # the client sent the whole conversation
    elif deps.history_turns:
        reading = _history(request, deps)
    else:
        reading = _given(())
    # History and passages are independent: fetched concurrently, not one after another.
    (history, summary), passages = await asyncio.gather(
        reading,
        deps.passages.search(request, deps.passages_limit,
                             assistant.spec.collections if assistant else ("library",))
        if verdict.allowed
        else _no_passages())
    blocking = mode == "block"
    reads = guard.Reads(queued=own.queued)  # the stored turns' and passages' own
    if request.history is None and blocking:
        history = await _guarding(_guarded, history, reads)
    if verdict.allowed:
        passages = [*passages, *await _web(request, history, deps)]
    if blocking:
        passages = await _guarding(_clean, passages, reads)
    # The turns travel once, in ``history``; the request keeps an empty tuple, which still
    # says the client sent them (inference stores no summary of such turns).
    if request.history:
        request = request.model_copy(update={"history": ()})
    history, dropped = cap_history(history, deps.history_max_bytes)
    yield Emit(
        CONTEXTS,
        conversation_key(request.tenant_id, request.conversation_id),
        ContextBuilt(tenant_id=request.tenant_id, request=request, history=history,
                     passages=tuple(passages), guard=verdict, summary=summary,
                     instructions=instructions, dropped_turns=dropped),
    )


def stage(deps: StageDeps) -> StageSpec:
    # Every worker reads every assistant version, from the topic's start (compacted).
    definitions = Broadcast(ASSISTANTS, deps.assistants.on_event, lookback_s=None)
    return StageSpec(RETRIEVAL.name, RETRIEVAL.inputs, functools.partial(handle, deps=deps),
                     concurrency=_CONCURRENCY, on_dead_letter=answer_failed,
                     broadcasts=(definitions,))
