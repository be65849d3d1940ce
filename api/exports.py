"""A conversation's branch as a file: Markdown for people, JSON for programs."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from schemas.events import utcnow
from schemas.http import ConversationSettings, MessageOut
from stores.conversations.base import Conversation, StoredMessage

__all__ = ("export_json", "export_markdown", "filename")


def filename(conversation: Conversation, format: str) -> str:
    """A file name from the title: letters, digits and dashes only (it goes in a header)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", conversation.title).strip("-").lower()[:60]
    return f"{stem or 'conversation'}.{'md' if format == 'markdown' else 'json'}"


def _when(m: StoredMessage) -> str:
    return m.created_at.strftime("%Y-%m-%d %H:%M UTC")


def export_markdown(conversation: Conversation, messages: Sequence[StoredMessage]) -> str:
    lines = [f"# {conversation.title}", "",
             f"_Started {conversation.created_at:%Y-%m-%d %H:%M UTC}; exported "
             f"{utcnow():%Y-%m-%d %H:%M UTC} from chatstream._", ""]
    system = (conversation.settings or {}).get("system_prompt")
    if system:
        lines += ["> **System prompt:** " + system.replace("\n", "\n> "), ""]
    for m in messages:
        who = "You" if m.role == "user" else f"Assistant ({m.model})" if m.model else "Assistant"
        lines += [f"## {who} · {_when(m)}", "", m.text.strip() or "_(no text)_", ""]
        sources = []
        for c in m.citations:
            where = f"page {c['page']}, " if c.get("page") else ""
            sources.append(f"- {c.get('url') or c['title']} ({where}passage "
                           f"{int(c['chunk']) + 1})")
        if sources:
            lines += ["Sources:", "", *dict.fromkeys(sources), ""]
        if m.finish_reason and m.finish_reason not in ("stop", "tool_calls"):
            lines += [f"_Ended: {m.finish_reason}_", ""]
    return "\n".join(lines)


def export_json(conversation: Conversation, messages: Sequence[MessageOut]) -> str:
    settings = ConversationSettings.model_validate(conversation.settings or {})
    return json.dumps({
        "conversation": {"id": conversation.id, "title": conversation.title,
                         "created_at": conversation.created_at.isoformat(),
                         "settings": settings.model_dump()},
        "exported_at": utcnow().isoformat(),
        "messages": [m.model_dump(mode="json") for m in messages],
    }, ensure_ascii=False, indent=2)
