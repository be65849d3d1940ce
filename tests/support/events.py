"""Events the tests publish straight to the log."""

from __future__ import annotations

import uuid

from schemas.events import MessageReceived

__all__ = ("message_received",)


def message_received(text: str, model: str = "extractive") -> MessageReceived:
    """A user message of tenant t1's conversation c1, with fresh ids."""
    return MessageReceived(tenant_id="t1", request_id=uuid.uuid4().hex,
                           message_id=uuid.uuid4().hex, conversation_id="c1", user_id="u1",
                           text=text, model=model)
