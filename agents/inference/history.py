"""Fitting a conversation into a model's context window.

The system prompt and the newest turns are kept as they are; when the whole history does
not fit, the older turns are folded, with the summary written so far, into a new summary
written by the model itself, in one call (the folded turns that do not fit that call's
window are left out). What was summarised or left out is told to the client with the
answer, and the summary's usage is added to the answer's.

A summary is kept per conversation so the next turns start from it and it is rewritten
only when the history overflows again, not every turn: in the store, through the last
turn it covers, for a stored conversation; in the worker's memory, by the turns it
covers, for turns a client sends with each request (chat completions), so a client that
sends its growing conversation every time pays for one summary call per overflow.

Token counts are the model's own where its provider runs the model in process and so has
its tokenizer (llama.cpp); for hosted models they are estimates (about four characters a
token, plus a few tokens a message): tiktoken would need its BPE files downloaded at run
time, which an offline worker cannot do. A tenth of the window is left as a margin for
the estimate's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from agents.inference.failover import TooLong
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
from schemas.events import ContextBuilt, HistoryFitted, HistoryTurn, Usage, utcnow
from schemas.options import parse_options
from stores.conversations.base import ConversationStore, StoredSummary

__all__ = ("PromptBuilder", "SummaryCache", "budget_of", "summary_budget_of")

log = logging.getLogger(__name__)

MARGIN = 0.1
INSTRUCTIONS = 200
"""Tokens set aside for the summarising instructions and framing."""


def budget_of(spec: ModelSpec, max_tokens: int | None) -> int:
    """Tokens the prompt may take: the window less the answer's room and a margin."""
    reserve = max_tokens if max_tokens else min(1024, spec.context_window // 4)
    return int(spec.context_window * (1 - MARGIN)) - reserve


def summary_budget_of(spec: ModelSpec) -> int:
    return max(48, min(512, spec.context_window // 8))


def _clip(text: str, tokens: int) -> str:
    return text if estimate_tokens(text) <= tokens else text[: tokens * 4].rsplit(" ", 1)[0]


_MIN_SHARE = 16
"""Tokens a folded turn gets at least in the summarising call."""


def _fold_input(turns: tuple[HistoryTurn, ...], room: int) -> tuple[HistoryTurn, ...]:
    """``turns`` as they go into one summarising call of ``room`` tokens: the short ones
    whole, the long ones clipped to an equal share of what is left (so every turn's start
    is read, the conversation's first included); when there are too many for even a
    share each, the oldest are left out."""
    room = max(4 * _MIN_SHARE, room)
    turns = turns[-(room // _MIN_SHARE):]
    costs = [estimate_tokens(t.text) + 4 for t in turns]
    caps = [0] * len(turns)
    left, n = room, len(turns)
    for i in sorted(range(len(turns)), key=costs.__getitem__):
        caps[i] = min(costs[i], left // n)
        left, n = left - caps[i], n - 1
    return tuple(t if costs[i] <= caps[i] else
                 t.model_copy(update={"text": _clip(t.text, max(1, caps[i] - 4))})
                 for i, t in enumerate(turns))


def _digest(tenant: str, model: str, turns: tuple[HistoryTurn, ...]) -> list[str]:
    """A digest of each prefix of ``turns`` (of a tenant's conversation, for a model)."""
    h = hashlib.sha256(f"{tenant}\0{model}".encode())
    out = []
    for t in turns:
        h.update(json.dumps([t.role, t.text, [c.id for c in t.tool_calls]]).encode())
        out.append(h.copy().hexdigest())
    return out


class SummaryCache:
    """Summaries of turns clients sent inline, by the turns they cover, per worker: a
    client sending its whole conversation each time finds the summary of its older turns
    here and has only the turns since folded into it. Each summary is kept with how many
    of the turns it stands for were left out of it. Bounded by count (LRU)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._found: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def longest(self, digests: list[str]) -> tuple[int, str, int] | None:
        """How many of the turns the longest cached summary covers, the summary, and how
        many of those turns it left out."""
        for n in range(len(digests), 0, -1):
            key = digests[n - 1]
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
                return n, found[0], found[1]
        return None

    def put(self, digest: str, summary: str, left_out: int) -> None:
        self._found[digest] = (summary, left_out)
        self._found.move_to_end(digest)
        while len(self._found) > self._max:
            self._found.popitem(last=False)


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
    summary written for one model is reused for the next of the chain.

    ``fitted`` says what was done to the history (None: nothing), ``extra_usage`` the
    usage of the summarising call this request made (None: none)."""

    ctx: ContextBuilt
    store: ConversationStore
    summary_timeout_s: float = 60.0
    cache: SummaryCache | None = None
    prompt_tokens: int = 0
    fitted: HistoryFitted | None = None
    extra_usage: Usage | None = None
    _summaries: dict[int, tuple[str | None, int]] = field(default_factory=dict)

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
        history = self.ctx.history
        # The system prompt is the client's own instructions: never folded or left out.
        pinned = tuple(t for t in history if t.role == "system")
        turns = tuple(t for t in history if t.role != "system")
        base = Prompt(question=req.text, passages=self.ctx.passages, max_tokens=max_tokens,
                      temperature=options.temperature, options=options,
                      tool_rounds=req.tool_rounds, images=req.images, history=pinned,
                      instructions=self.ctx.instructions, name=req.name)
        # Passages give way first, the least relevant first; the question never does.
        passages = sorted(base.passages, key=lambda p: p.score)
        while passages and count(to_messages(base)) > budget:
            passages.pop(0)
            base = replace(base, passages=tuple(p for p in base.passages if p in passages))
        fixed = count(to_messages(base))
        if fixed > budget:
            message = (f"the messages take about {fixed} tokens, more than the "
                       f"{budget} the context window of {spec.name} leaves for them "
                       f"({spec.context_window} tokens, less room for the answer)")
            raise TooLong(spec.provider_key, message, status=400, detail=message,
                          code="context_length_exceeded", param="messages",
                          type="invalid_request_error")
        room = budget - fixed
        full = replace(base, history=history, summary=old)
        self._report(0, 0)
        if count(to_messages(full)) <= budget:
            self.prompt_tokens = count(to_messages(full))
            return full
        # Too long: keep the newest turns that fit beside a summary of the rest.
        summary_room = summary_budget_of(spec)
        kept: list[HistoryTurn] = []
        used = summary_room + 8
        for turn in reversed(turns):
            cost = message_tokens(turn_messages(turn))
            if used + cost > room:
                break
            kept.insert(0, turn)
            used += cost
        folded = turns[: len(turns) - len(kept)]
        summary, left_out = old, 0
        if folded:
            summary, left_out = await self._summarize(spec, provider, old, folded,
                                                      summary_room)
        if summary is not None:
            summary = _clip(summary, summary_room)
        self._report(len(folded) - left_out, left_out)
        prompt = replace(base, history=(*pinned, *kept), summary=summary)
        self.prompt_tokens = count(to_messages(prompt))
        return prompt

    def _report(self, summarized: int, dropped: int) -> None:
        dropped += self.ctx.dropped_turns
        self.fitted = HistoryFitted(summarized_turns=summarized, dropped_turns=dropped) \
            if summarized or dropped else None

    async def _summarize(self, spec: ModelSpec, provider: ChatProvider, old: str | None,
                         folded: tuple[HistoryTurn, ...], tokens: int,
                         ) -> tuple[str | None, int]:
        """The summary of ``folded`` (after ``old``) in one call, and how many of the
        folded turns were left out of it (those one call cannot read)."""
        if len(folded) in self._summaries:
            return self._summaries[len(folded)]
        inline = self.ctx.request.history is not None
        digests = _digest(self.ctx.tenant_id, spec.name, folded) if inline else []
        start, left_out = 0, 0
        if inline and self.cache is not None:
            hit = self.cache.longest(digests)
            if hit is not None:
                start, old, left_out = hit
        summary = old
        rest = folded[start:]
        todo = _fold_input(rest, budget_of(spec, tokens) - tokens - INSTRUCTIONS
                           - estimate_tokens(old or ""))
        if todo:
            text = await self._call(spec, provider, old, todo, tokens)
            if text:
                summary = _clip(text, tokens)
                left_out += len(rest) - len(todo)
                if self.cache is not None and inline:
                    self.cache.put(digests[-1], summary, left_out)
                await self._save(summary, folded[-1])
            else:
                left_out += len(rest)
        if summary is None:
            left_out = len(folded)
        self._summaries[len(folded)] = (summary, left_out)
        return summary, left_out

    async def _call(self, spec: ModelSpec, provider: ChatProvider, old: str | None,
                    turns: tuple[HistoryTurn, ...], tokens: int) -> str | None:
        """One summarising call; its usage is added to the request's. None on failure:
        the answer still comes, with less memory of the conversation."""
        prompt = Prompt(question="", history=turns, summary=old, max_tokens=tokens,
                        task="summarize")
        parts: list[str] = []
        usage: Usage | None = None
        try:
            async with asyncio.timeout(self.summary_timeout_s):
                async for d in provider.stream(spec, prompt):
                    parts.append(d.text)
                    usage = d.usage or usage
        except (ChatstreamError, TimeoutError) as exc:
            log.warning("summary of %s by %s failed: %s",
                        self.ctx.request.conversation_id, spec.name, exc)
            return None
        text = "".join(parts).strip()
        if usage is None:
            usage = Usage(prompt_tokens=message_tokens(to_messages(prompt)),
                          completion_tokens=estimate_tokens(text))
        extra = self.extra_usage or Usage()
        self.extra_usage = Usage(prompt_tokens=extra.prompt_tokens + usage.prompt_tokens,
                                 completion_tokens=extra.completion_tokens
                                 + usage.completion_tokens)
        return text or None

    async def _save(self, text: str, through: HistoryTurn) -> None:
        # Turns a client sent inline (chat completions) are not stored: neither is their
        # summary, which is kept in the worker's memory only.
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
