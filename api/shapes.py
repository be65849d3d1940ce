"""Stored records as the API shows them: one shape each, for every route that shows one."""

from __future__ import annotations

from typing import Any

from api.guards.scopes import KEY_SCOPES
from schemas.accounts import KeyOut
from schemas.events import Citation, ToolCall
from schemas.http import MessageOut, MessageTimings, StoredScores
from stores.accounts.base import ApiKey
from stores.conversations.base import StoredMessage

__all__ = ("key_out", "message_out")


def message_out(m: StoredMessage, parent_id: str | None = None) -> MessageOut:
    """``parent_id``: the message it follows, resolved (stores.conversations.branches)."""
    usage: dict[str, Any] | None = None
    timings: MessageTimings | None = None
    if m.role == "assistant":
        usage = {"prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens}
        if m.ttft_ms is not None or m.duration_ms is not None:
            timings = MessageTimings(ttft_ms=m.ttft_ms, duration_ms=m.duration_ms)
    return MessageOut(
        id=m.id, request_id=m.request_id, role=m.role, text=m.text, created_at=m.created_at,
        parent_id=parent_id, model=m.model, provider=m.provider, usage=usage,
        finish_reason=m.finish_reason,
        citations=[Citation.model_validate(c) for c in m.citations],
        scores=StoredScores.model_validate(m.scores) if m.scores else None,
        tool_calls=[ToolCall.model_validate(c) for c in m.tool_calls], timings=timings,
    )


def key_out(k: ApiKey) -> KeyOut:
    return KeyOut(prefix=k.prefix, name=k.name, user_id=k.user_id, created_at=k.created_at,
                  revoked=k.revoked, scopes=list(k.scopes or KEY_SCOPES),
                  expires_at=k.expires_at)
