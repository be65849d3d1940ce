"""Fitting a conversation into a model's context window.

The newest turns are kept as they are; when the whole history does not fit, the oldest
turns are folded, with the summary written so far, into a new summary written by the
model itself. The summary is stored per conversation, through the last turn it covers,
so the next turns start from it and it is only rewritten when the history overflows
again, not every turn.

Token counts are the model's own where its provider runs the model in process and so has
its tokenizer (llama.cpp); for hosted models they are estimates (about four characters a
token, plus a few tokens a message): tiktoken would need its BPE files downloaded at run
time, which an offline worker cannot do. A tenth of the window is left as a margin for
the estimate's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field, replace

from agents.providers.base import (
    ChatProvider,
    CountsTokens,
    MessageCounter,
    Prompt,
    estimate_tokens,
)
from agents.providers.messages import message_tokens, to_messages, turn_messages
from kernel.errors import ChatstreamError, ProviderError
from schemas.catalogue import ModelSpec
from schemas.events import ContextBuilt, HistoryTurn, utcnow
from schemas.options import parse_options
from stores.conversations.base import ConversationStore, StoredSummary

__all__ = ("PromptBuilder", "budget_of", "summary_budget_of")

log = logging.getLogger(__name__)

MARGIN = 0.1
INSTRUCTIONS = 200
"""Tokens set aside for the summarising instructions and framing."""
MAX_SUMMARY_CALLS = 16
"""At most this many summarising calls for one answer; older turns beyond are dropped."""


def budget_of(spec: ModelSpec, max_tokens: int | None) -> int:
    """Tokens the prompt may take: the window less the answer's room and a margin."""
    reserve = max_tokens if max_tokens else min(1024, spec.context_window // 4)
    return int(spec.context_window * (1 - MARGIN)) - reserve


def summary_budget_of(spec: ModelSpec) -> int:
    return max(48, min(512, spec.context_window // 8))


def _clip(text: str, tokens: int) -> str:
    return text if estimate_tokens(text) <= tokens else text[: tokens * 4].rsplit(" ", 1)[0]


def _batches(turns: tuple[HistoryTurn, ...], room: int) -> list[tuple[HistoryTurn, ...]]:
    """The turns, oldest first, in runs that each fit ``room`` tokens beside the summary
    so far (a turn too long on its own is clipped), the newest runs kept if too many."""
    room = max(64, room)
    out: list[tuple[HistoryTurn, ...]] = []
    batch: list[HistoryTurn] = []
    used = 0
    for turn in turns:
        cost = estimate_tokens(turn.text) + 4
        if cost > room:
            turn = turn.model_copy(update={"text": _clip(turn.text, room - 4)})
            cost = room
        if batch and used + cost > room:
            out.append(tuple(batch))
            batch, used = [], 0
        batch.append(turn)
        used += cost
    if batch:
        out.append(tuple(batch))
    return out[-MAX_SUMMARY_CALLS:]


async def _counter(spec: ModelSpec, provider: ChatProvider) -> MessageCounter:
    """The model's own token count where the provider has its tokenizer, else the estimate
    (whose error the margin covers)."""
    if isinstance(provider, CountsTokens):
        try:
            return await provider.token_counter(spec)
        except ProviderError as exc:  # its model is missing: the estimate will do
            log.debug("no tokenizer for %s: %s", spec.name, exc)
    return message_tokens


@dataclass
class PromptBuilder:
    """Builds, for each model a request may be sent to, a prompt within its window; a
    summary written for one model is reused for the next of the chain."""

    ctx: ContextBuilt
    store: ConversationStore
    summary_timeout_s: float = 60.0
    prompt_tokens: int = 0
    _summaries: dict[int, str | None] = field(default_factory=dict)

    async def __call__(self, spec: ModelSpec, provider: ChatProvider) -> Prompt:
        req = self.ctx.request
        options = parse_options(req.options)
        max_tokens = options.max_tokens
        budget = budget_of(spec, max_tokens)
        if options.tools:
            # The tools' descriptions are part of the prompt the model reads.
            budget -= estimate_tokens(json.dumps([t.model_dump() for t in options.tools]))
        count = await _counter(spec, provider)
        old = self.ctx.summary.text if self.ctx.summary else None
        base = Prompt(question=req.text, passages=self.ctx.passages, max_tokens=max_tokens,
                      temperature=options.temperature, options=options,
                      tool_rounds=req.tool_rounds, images=req.images,
                      instructions=self.ctx.instructions)
        # Passages give way first, the least relevant first; the question never does.
        passages = sorted(base.passages, key=lambda p: p.score)
        while passages and count(to_messages(base)) > budget:
            passages.pop(0)
            base = replace(base, passages=tuple(p for p in base.passages if p in passages))
        fixed = count(to_messages(base))
        if fixed > budget:
            raise ProviderError(spec.provider_key, f"the message does not fit the context "
                                f"window of {spec.name} ({spec.context_window} tokens)")
        history = self.ctx.history
        room = budget - fixed
        full = replace(base, history=history, summary=old)
        if count(to_messages(full)) <= budget:
            self.prompt_tokens = count(to_messages(full))
            return full
        # Too long: keep the newest turns that fit beside a summary of the rest.
        summary_room = summary_budget_of(spec)
        kept: list[HistoryTurn] = []
        used = summary_room + 8
        for turn in reversed(history):
            cost = message_tokens(turn_messages(turn))
            if used + cost > room:
                break
            kept.insert(0, turn)
            used += cost
        folded = history[: len(history) - len(kept)]
        summary = old
        if folded:
            summary = await self._summarize(spec, provider, old, folded, summary_room)
        if summary is not None:
            summary = _clip(summary, summary_room)
        prompt = replace(base, history=tuple(kept), summary=summary)
        self.prompt_tokens = count(to_messages(prompt))
        return prompt

    async def _summarize(self, spec: ModelSpec, provider: ChatProvider, old: str | None,
                         folded: tuple[HistoryTurn, ...], tokens: int) -> str | None:
        if len(folded) in self._summaries:
            return self._summaries[len(folded)]
        summary, through = old, None
        for batch in _batches(folded, budget_of(spec, tokens) - tokens - INSTRUCTIONS):
            prompt = Prompt(question="", history=batch, summary=summary, max_tokens=tokens,
                            task="summarize")
            try:
                async with asyncio.timeout(self.summary_timeout_s):
                    parts = [d.text async for d in provider.stream(spec, prompt)]
            except (ChatstreamError, TimeoutError) as exc:
                # The turns not summarised yet are dropped: the answer still comes, with
                # less memory of the conversation.
                log.warning("summary of %s by %s failed: %s",
                            self.ctx.request.conversation_id, spec.name, exc)
                break
            text = "".join(parts).strip()
            if not text:
                break
            summary, through = _clip(text, tokens), batch[-1]
        self._summaries[len(folded)] = summary
        if through is not None and summary is not None:
            await self._save(summary, through)
        return summary

    async def _save(self, text: str, through: HistoryTurn) -> None:
        # Turns a client sent inline (chat completions) are not stored: neither is their
        # summary, which only lives for this request.
        if self.ctx.request.history is not None or through.message_id is None \
                or through.at is None:
            return
        req = self.ctx.request
        with contextlib.suppress(ChatstreamError):
            await self.store.save_summary(StoredSummary(
                tenant_id=req.tenant_id, conversation_id=req.conversation_id, text=text,
                through_message_id=through.message_id, through_at=through.at,
                updated_at=utcnow()))
            log.info("summary of %s stored through %s", req.conversation_id,
                     through.message_id)
