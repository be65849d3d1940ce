"""Scoring: sentiment, intent, answer quality and lead score of each answered turn.

Transparent lexicon rules, each score returned with the signals that moved it, so a
data team can see why a turn scored as it did and replace a rule with a model later.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Literal

from schemas.events import ResponseCompleted, ScoresComputed, Signal, conversation_key
from schemas.stages import SCORING
from schemas.topics import SCORES
from streams.runtime.base import Emit, StageSpec

__all__ = ("handle", "score", "stage")

Intent = Literal["faq", "booking", "sales", "support", "escalation", "other"]

_POSITIVE = frozenset(
    [
        "great",
        "good",
        "love",
        "thanks",
        "thank",
        "awesome",
        "excellent",
        "perfect",
        "happy",
        "helpful",
        "nice",
        "amazing",
        "wonderful",
        "appreciate",
        "glad",
        "pleased",
        "fantastic",
        "brilliant",
    ]
)
_NEGATIVE = frozenset(
    [
        "bad",
        "terrible",
        "awful",
        "hate",
        "angry",
        "broken",
        "useless",
        "worst",
        "disappointed",
        "annoyed",
        "frustrated",
        "wrong",
        "problem",
        "issue",
        "slow",
        "fail",
        "failed",
        "failing",
        "error",
        "unhappy",
        "poor",
    ]
)
_NEGATION = frozenset(
    ["not", "no", "never", "don't", "doesn't", "isn't", "wasn't", "can't", "won't"]
)

_INTENTS: tuple[tuple[Intent, float, re.Pattern[str]], ...] = (
    (
        "escalation",
        3.0,
        re.compile(
            r"\b(speak|talk) to (a |an )?(human|person|manager|agent)|complain|complaint|refund|"
            r"lawyer|unacceptable|escalate",
            re.I,
        ),
    ),
    (
        "booking",
        2.0,
        re.compile(
            r"\b(book|booking|reserve|reservation|appointment|schedule|reschedule|available "
            r"slot|table for)\b",
            re.I,
        ),
    ),
    (
        "sales",
        2.0,
        re.compile(
            r"\b(price|pricing|cost|quote|buy|purchase|plan|subscription|discount|demo|trial|"
            r"licen[cs]e|upgrade)s?\b",
            re.I,
        ),
    ),
    (
        "support",
        2.0,
        re.compile(
            r"\b(error|bug|broken|crash|not working|doesn't work|can't|cannot|fix|issue|problem|"
            r"help me|login|password|reset)\b",
            re.I,
        ),
    ),
    (
        "faq",
        1.0,
        re.compile(r"^\s*(what|who|where|when|why|how|which|is|are|do|does|can)\b|\?\s*$", re.I),
    ),
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{7,}\d")
_COMPANY = re.compile(
    r"\b(our (team|company|business)|employees|seats|users|enterprise|"
    r"we are|we're)\b",
    re.I,
)
_URGENT = re.compile(r"\b(asap|urgent|today|this week|immediately|soon)\b", re.I)
_WORD = re.compile(r"[a-z']+")


def _sentiment(text: str) -> tuple[float, list[Signal]]:
    words = _WORD.findall(text.lower())
    total = 0.0
    signals: list[Signal] = []
    for i, w in enumerate(words):
        sign = 1.0 if w in _POSITIVE else -1.0 if w in _NEGATIVE else 0.0
        if not sign:
            continue
        if any(p in _NEGATION for p in words[max(0, i - 2) : i]):
            sign = -sign
        total += sign
        signals.append(Signal(name=w, weight=sign))
    score = max(-1.0, min(1.0, total / 3))
    return score, signals


def _intent(text: str) -> tuple[Intent, list[Signal]]:
    best: Intent = "other"
    best_weight = 0.0
    signals: list[Signal] = []
    for name, weight, pattern in _INTENTS:
        hits = pattern.findall(text)
        if hits:
            w = weight * len(hits)
            signals.append(Signal(name=name, weight=w))
            if w > best_weight:
                best, best_weight = name, w
    return best, signals


def _quality(event: ResponseCompleted) -> tuple[float, list[Signal]]:
    signals: list[Signal] = []
    q = 0.5

    def add(name: str, weight: float) -> None:
        nonlocal q
        q += weight
        signals.append(Signal(name=name, weight=weight))

    n = len(event.text.split())
    if event.finish_reason not in ("stop", "length"):
        add(f"finish:{event.finish_reason}", -0.4)
    if n == 0:
        add("empty_answer", -0.5)
    elif n < 4:
        add("very_short", -0.15)
    elif n <= 300:
        add("reasonable_length", 0.1)
    asked = set(_WORD.findall(event.prompt.lower())) - _NEGATION
    answered = set(_WORD.findall(event.text.lower()))
    if asked:
        overlap = len(asked & answered) / len(asked)
        add("addresses_question", round(0.3 * overlap, 3))
    if event.citations:
        add("cites_sources", 0.1)
    if "can't answer" in event.text.lower() or "cannot answer" in event.text.lower():
        add("declined", -0.2)
    return max(0.0, min(1.0, q)), signals


def _lead(text: str, intent: Intent, sentiment: float) -> tuple[float, list[Signal]]:
    signals: list[Signal] = []
    score = 0.0
    for name, weight, hit in (
        ("sales_intent", 0.35, intent == "sales"),
        ("booking_intent", 0.3, intent == "booking"),
        ("gave_email", 0.25, bool(_EMAIL.search(text))),
        ("gave_phone", 0.2, bool(_PHONE.search(text))),
        ("company_context", 0.15, bool(_COMPANY.search(text))),
        ("urgency", 0.1, bool(_URGENT.search(text))),
        ("positive_tone", 0.05, sentiment > 0.2),
    ):
        if hit:
            score += weight
            signals.append(Signal(name=name, weight=weight))
    return min(1.0, score), signals


def score(event: ResponseCompleted) -> ScoresComputed:
    sentiment, s_sig = _sentiment(event.prompt)
    intent, i_sig = _intent(event.prompt)
    quality, q_sig = _quality(event)
    lead, l_sig = _lead(event.prompt, intent, sentiment)
    label: Literal["positive", "neutral", "negative"] = (
        "positive" if sentiment > 0.15 else "negative" if sentiment < -0.15 else "neutral"
    )
    return ScoresComputed(
        tenant_id=event.tenant_id,
        assistant=event.assistant,
        request_id=event.request_id,
        message_id=event.message_id,
        conversation_id=event.conversation_id,
        user_id=event.user_id,
        sentiment=label,
        sentiment_score=round(sentiment, 3),
        intent=intent,
        quality=round(quality, 3),
        lead_score=round(lead, 3),
        signals={
            "sentiment": tuple(s_sig),
            "intent": tuple(i_sig),
            "quality": tuple(q_sig),
            "lead": tuple(l_sig),
        },
    )


async def handle(event: ResponseCompleted) -> AsyncIterator[Emit]:
    yield Emit(SCORES, conversation_key(event.tenant_id, event.conversation_id), score(event))


def stage() -> StageSpec:
    return StageSpec(SCORING.name, SCORING.inputs, handle, concurrency=4)
