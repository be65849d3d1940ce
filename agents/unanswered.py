"""The end of an answer a stage gave up on: its request was dead-lettered, so the client
waiting for it gets an ``error`` event instead of a stream that never ends."""

from __future__ import annotations

from typing import Any

from schemas.events import AnswerFailed, ContextBuilt, MessageReceived, conversation_key
from schemas.topics import TOKENS
from streams.runtime.base import Emit, Record

__all__ = ("ATTEMPT", "answer_failed")

ATTEMPT = "dead-letter"
"""The attempt of the failure event: a terminal event of its own, not a generation run."""


def answer_failed(record: Record, event: Any | None) -> tuple[Emit, ...]:
    request = event.request if isinstance(event, ContextBuilt) else event
    if not isinstance(request, MessageReceived):
        return ()  # undecodable: no request to answer (the edge ends it by its max age)
    failed = AnswerFailed(
        tenant_id=request.tenant_id, request_id=request.request_id,
        conversation_id=request.conversation_id, attempt=ATTEMPT, seq=0,
        code="unprocessable", message="the request could not be processed; it was set "
        "aside for an operator (dead-letter topic)")
    return (Emit(TOKENS, conversation_key(request.tenant_id, request.conversation_id),
                 failed, request.reply_partition),)
