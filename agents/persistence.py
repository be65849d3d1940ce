"""Persistence: requests, responses and scores into the conversation store, idempotently."""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from schemas.events import MessageReceived, ResponseCompleted, ScoresComputed
from schemas.plans import MONTH_TTL_S, month_window
from schemas.stages import PERSISTENCE
from stores.accounts.base import AccountStore
from stores.conversations.base import Conversation, ConversationStore, StoredMessage
from streams.runtime.base import StageSpec

__all__ = ("KnownConversations", "PersistenceDeps", "count_tokens", "handle", "stage",
           "title_for")


def title_for(text: str) -> str:
    first = " ".join(text.split())
    return first if len(first) <= 60 else first[:57].rstrip() + "..."


async def count_tokens(event: ResponseCompleted, accounts: AccountStore) -> None:
    """Tokens of a finished answer against its tenant's month (and its user's, for
    admins); once per request whatever the redeliveries."""
    month, _ = month_window(event.occurred_at.timestamp())
    used = event.usage.prompt_tokens + event.usage.completion_tokens
    for scope in (f"tenant:{event.tenant_id}", f"user:{event.tenant_id}:{event.user_id}"):
        await accounts.add_once(f"tokens:{scope}:{event.request_id}", scope, month, "tokens",
                                used, MONTH_TTL_S)


class KnownConversations:
    """Conversations this process saw stored, most recent last, bounded: a conversation's
    later messages skip the existence check (a store read per message otherwise)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Creations under way: a conversation's first messages handled side by side wait
        # for one creation instead of each checking and writing the same row.
        self._creating: dict[tuple[str, str], asyncio.Future[None]] = {}

    async def ensure(self, key: tuple[str, str], create: Callable[[], Awaitable[None]]) -> None:
        """Run ``create`` unless ``key`` is known or being created; then remember it."""
        if key in self:
            return
        pending = self._creating.get(key)
        if pending is not None:
            await asyncio.shield(pending)
            return
        pending = asyncio.ensure_future(create())
        self._creating[key] = pending
        try:
            await asyncio.shield(pending)
            self.add(key)
        finally:
            del self._creating[key]

    def __contains__(self, key: tuple[str, str]) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        return False

    def add(self, key: tuple[str, str]) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)


@dataclass(frozen=True)
class PersistenceDeps:
    store: ConversationStore
    # Tokens are counted against plans here, once per answer (AUTH=jwt).
    accounts: AccountStore | None = None
    known: KnownConversations | None = field(default_factory=lambda: KnownConversations())


async def handle(event: MessageReceived | ResponseCompleted | ScoresComputed,
                 deps: PersistenceDeps) -> None:
    """A sink: writes, publishes nothing."""
    store, accounts, known = deps.store, deps.accounts, deps.known
    if isinstance(event, MessageReceived):
        # Conversations opened by the chat-completions route exist only as events.
        conversation = Conversation(event.tenant_id, event.conversation_id, event.user_id,
                                    title_for(event.text), event.occurred_at)
        if known is None or event.opens_conversation:
            # An opened conversation has this one message: nothing to remember it for.
            await store.create_conversation(conversation, opened=event.opens_conversation)
        else:
            await known.ensure((event.tenant_id, event.conversation_id),
                               lambda: store.create_conversation(conversation))
        if event.regenerate:
            return  # the question is stored already; only its new answer comes
        await store.save_message(StoredMessage(
            tenant_id=event.tenant_id, conversation_id=event.conversation_id,
            id=event.message_id, request_id=event.request_id, role="user", text=event.text,
            created_at=event.occurred_at, user_id=event.user_id, model=event.model,
            parent_id=event.parent_id))
    elif isinstance(event, ResponseCompleted):
        await store.save_message(StoredMessage(
            tenant_id=event.tenant_id, conversation_id=event.conversation_id,
            id=event.message_id, request_id=event.request_id, role="assistant",
            # The request's time, not this attempt's: one row per request whatever the
            # redeliveries (it sorts right after its question: same instant, role order).
            text=event.text, created_at=event.requested_at or event.occurred_at,
            user_id=event.user_id,
            model=event.model, provider=event.provider,
            prompt_tokens=event.usage.prompt_tokens,
            completion_tokens=event.usage.completion_tokens,
            finish_reason=event.finish_reason,
            citations=tuple(c.model_dump(exclude_none=True) for c in event.citations),
            tool_calls=tuple(c.model_dump(exclude={"result"}) for c in event.tool_calls),
            # An answer follows its question, whichever version of the answer it is.
            parent_id=event.reply_to, ttft_ms=event.time_to_first_token_ms,
            duration_ms=event.duration_ms))
        if accounts is not None:
            await count_tokens(event, accounts)
    else:
        await store.save_scores(event.tenant_id, event.conversation_id, event.message_id, {
            "sentiment": event.sentiment, "sentiment_score": event.sentiment_score,
            "intent": event.intent, "quality": event.quality, "lead_score": event.lead_score})


def stage(deps: PersistenceDeps) -> StageSpec:
    # Writes wait on the store, not the CPU; writes in flight to one conversation are
    # batched by the Cassandra store, so more at a time means fewer round trips.
    return StageSpec(PERSISTENCE.name, PERSISTENCE.inputs,
                     functools.partial(handle, deps=deps), concurrency=16)
