"""A :class:`Prompt` as chat-completions messages, and their size in tokens."""

from __future__ import annotations

from agents.providers.base import Prompt, estimate_tokens

__all__ = ("SUMMARY_INSTRUCTIONS", "message_tokens", "to_messages")

SUMMARY_INSTRUCTIONS = (
    "You keep the running summary of a conversation between a user and an assistant. "
    "Rewrite the summary so it also covers the new turns. Keep facts, names, numbers, "
    "decisions, the user's preferences and open questions; drop pleasantries. Write it "
    "in the third person, as plain prose, and answer with the summary only{limit}."
)

# Each message costs a few tokens of framing besides its content (role, separators).
_PER_MESSAGE = 4


def _context(prompt: Prompt) -> str:
    parts = []
    if prompt.summary:
        parts.append(f"Summary of the earlier conversation:\n{prompt.summary}")
    if prompt.passages:
        quoted = "\n\n".join(f"[{p.title}] {p.text}" for p in prompt.passages)
        parts.append("Passages from the user's documents. Use them when they answer the "
                     f"question and cite them by their title in brackets:\n{quoted}")
    return "\n\n".join(parts)


def to_messages(prompt: Prompt) -> list[dict[str, str]]:
    if prompt.task == "summarize":
        limit = f", in under {prompt.max_tokens * 3 // 4} words" if prompt.max_tokens else ""
        turns = "\n".join(f"{t.role}: {t.text}" for t in prompt.history)
        return [
            {"role": "system", "content": SUMMARY_INSTRUCTIONS.format(limit=limit)},
            {"role": "user", "content": f"Summary so far:\n{prompt.summary or '(none)'}\n\n"
                                        f"New turns:\n{turns}"},
        ]
    messages = []
    context = _context(prompt)
    if context:
        messages.append({"role": "system", "content": context})
    messages += [{"role": t.role, "content": t.text} for t in prompt.history]
    messages.append({"role": "user", "content": prompt.question})
    return messages


def message_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) + _PER_MESSAGE for m in messages)
