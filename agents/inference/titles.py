"""A conversation's title, written by the model that answered its first question.

After the first answer of a conversation that still has the default title, the model is
asked for a few words naming it (the offline model takes the question's first clause);
the title is stored only while the conversation still has the default one, so a title a
person chose is never replaced. A model that fails or says nothing usable leaves the
offline model's title instead: a conversation is never left untitled by a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from agents.providers.base import ChatProvider, Prompt
from agents.providers.extractive import title as offline_title
from kernel.errors import ChatstreamError
from schemas.catalogue import ModelSpec
from schemas.events import ContextBuilt, HistoryTurn
from stores.conversations.base import DEFAULT_TITLE, ConversationStore

__all__ = ("first_turn", "write_title")

log = logging.getLogger(__name__)

TITLE_TOKENS = 24
_ANSWER_CHARS = 600  # of the answer, shown to the model with the question
_QUESTION_CHARS = 2000


def first_turn(ctx: ContextBuilt) -> bool:
    """The conversation's first question, asked on the native API (a client that sends
    the whole conversation, or a batch, keeps its own naming)."""
    return (ctx.request.history is None and not ctx.history and ctx.summary is None
            and ctx.guard.allowed)


def _clean(text: str) -> str:
    line = next((x for x in text.strip().splitlines() if x.strip()), "")
    line = re.sub(r"[*_`#>\"“”«»]", "", line).strip()
    line = re.sub(r"^title\s*:\s*", "", line, flags=re.I).strip(" '.:;-")
    return " ".join(line.split())[:80]


async def write_title(ctx: ContextBuilt, answer: str, spec: ModelSpec,
                      provider: ChatProvider, store: ConversationStore,
                      timeout_s: float) -> None:
    """Title the conversation of ``ctx`` unless it has a title of its own already."""
    req = ctx.request
    conversation = await store.get_conversation(req.tenant_id, req.conversation_id)
    if conversation is None or conversation.title != DEFAULT_TITLE:
        return
    prompt = Prompt(question=req.text[:_QUESTION_CHARS],
                    history=(HistoryTurn(role="assistant", text=answer[:_ANSWER_CHARS]),),
                    max_tokens=TITLE_TOKENS, task="title")
    title = ""
    try:
        async with asyncio.timeout(timeout_s):
            title = _clean("".join([d.text async for d in provider.stream(spec, prompt)]))
    except (ChatstreamError, TimeoutError) as exc:
        log.warning("title of %s by %s failed: %s", req.conversation_id, spec.name, exc)
    title = title or offline_title(prompt) or DEFAULT_TITLE
    with contextlib.suppress(ChatstreamError):  # untitled is better than a lost answer
        if await store.retitle(req.tenant_id, req.conversation_id, title,
                               only_if=DEFAULT_TITLE):
            log.info("conversation %s titled by %s", req.conversation_id, spec.name)
