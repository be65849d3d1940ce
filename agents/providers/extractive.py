"""The extractive model: answers quoted from the passages and the conversation.

No network, no weights, deterministic: the fallback of the offline language model and
the model of deterministic tests. It finds the sentences of the retrieved
passages and earlier turns that share the most words with the question and quotes
them, so chatstream works end to end with no keys. It does not reason or generate.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agents.providers.base import Delta, Prompt, estimate_tokens
from schemas.catalogue import ModelSpec
from schemas.events import Usage

__all__ = ("ExtractiveProvider", "answer", "summarize", "title")

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "i",
        "me",
        "my",
        "mine",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "us",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "about",
        "as",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "than",
        "too",
        "very",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "please",
        "tell",
        "know",
        "there",
        "here",
        "they",
        "them",
        "their",
        "he",
        "she",
        "his",
        "her",
        "him",
        "any",
        "some",
        "all",
        "just",
        "also",
        "into",
        "out",
        "up",
        "down",
        "over",
        "again",
        "more",
        "most",
        "such",
        "only",
        "own",
        "same",
        "s",
        "t",
        "don't",
        "i'm",
        "you're",
        "it's",
        "what's",
    ]
)
_SWAP = {
    "my": "your",
    "i": "you",
    "me": "you",
    "i'm": "you're",
    "mine": "yours",
    "am": "are",
    "myself": "yourself",
    "i've": "you've",
}


def _keywords(text: str) -> set[str]:
    return {w.rstrip("s") if len(w) > 3 else w for w in _WORD.findall(text.lower())} - _STOP


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 2]


def _second_person(sentence: str) -> str:
    def swap(m: re.Match[str]) -> str:
        w = m.group(0)
        out = _SWAP.get(w.lower())
        if out is None:
            return w  # not a pronoun: leave its case alone (TimeoutError stays as it is)
        return out.capitalize() if w[0].isupper() and w.lower() != "i" else out

    return re.sub(r"[A-Za-z']+", swap, sentence)


def _inline(sentence: str) -> str:
    """A quoted sentence after a colon: a swapped pronoun loses its capital."""
    first = sentence.split(maxsplit=1)[0] if sentence.strip() else ""
    if first.lower() in _SWAP.values():
        return sentence[0].lower() + sentence[1:]
    return sentence


@dataclass(frozen=True)
class _Candidate:
    text: str
    source: str
    score: float


def answer(prompt: Prompt) -> str:
    """The whole answer for ``prompt``; streaming only paces it out."""
    question = prompt.question.strip()
    wanted = _keywords(question)
    candidates: list[_Candidate] = []
    for p in prompt.passages:
        for s in _sentences(p.text):
            overlap = len(wanted & _keywords(s))
            if overlap:
                candidates.append(_Candidate(s, f"[{p.title}]", overlap + 0.5))
    earlier = [t.text for t in prompt.history if t.role == "user"]
    # quoting our own earlier answers would only echo them back
    for text in ([prompt.summary] if prompt.summary else []) + earlier:
        for s in _sentences(text):
            if s.rstrip().endswith("?"):
                continue
            overlap = len(wanted & _keywords(s))
            if overlap:
                candidates.append(_Candidate(_second_person(s), "earlier", overlap))
    is_question = question.endswith("?") or bool(
        re.match(r"(what|who|where|when|why|how|which|is|are|do|does|can|tell)\b", question.lower())
    )
    if candidates:
        best = sorted(candidates, key=lambda c: -c.score)[:3]
        parts = []
        for c in best:
            if c.source == "earlier":
                parts.append(f"Earlier you said: {_inline(c.text.rstrip('.'))}.")
            else:
                parts.append(f"According to {c.source}: {c.text}")
        return " ".join(parts)
    if not is_question:
        return f"Noted: {_inline(_second_person(question).rstrip('.!'))}."
    return (
        "I can't answer that from your documents or this conversation. I am "
        "chatstream's extractive model: I only quote what you have shared. "
        "Configure a hosted model for open questions."
    )


def summarize(prompt: Prompt) -> str:
    """An extractive summary: the statements the user made (questions left out), the
    earliest first, within ``max_tokens``. It keeps what :func:`answer` can quote."""
    budget = (prompt.max_tokens or 256) * 4
    statements: list[str] = []
    sources = [prompt.summary or ""] + [t.text for t in prompt.history if t.role == "user"]
    for text in sources:
        for s in _sentences(text):
            if not s.rstrip().endswith("?") and s not in statements:
                statements.append(s if s[-1] in ".!" else s + ".")
    out: list[str] = []
    size = 0
    for s in statements:
        if size + len(s) + 1 > budget:
            break
        out.append(s)
        size += len(s) + 1
    return " ".join(out)


_MARKUP = re.compile(r"```.*?(?:```|$)|`|https?://\S+|[#*_>~|\[\]()]", re.S)
_FILLER = re.compile(
    r"^(?:(?:please|hi|hello|hey|ok|okay|so|well|now|here is|here's|can you|could you|"
    r"would you|will you|tell me about|tell me|do you know|i'd like to know|i want to know|"
    r"i need|help me|explain|what is|what are|what's|who is|who are|who's|how do i|"
    r"how can i|how to|how does|how do|when is|when does|when do|where is|where are|"
    r"why is|why does|why do|is there|are there|the|a|an)\b[\s,]*)+", re.I)
_TITLE_WORDS = 7


def title(prompt: Prompt) -> str:
    """A short title from the question's first clause: markup and filler words left out,
    at most seven words."""
    lines = [" ".join(x.split()) for x in _MARKUP.sub(" ", prompt.question).splitlines()]
    plain = next((x for x in lines if x), "")
    sentence = re.split(r"[.!?]", plain, maxsplit=1)[0]
    clause = re.split(r"[,;:\u2014\u2013(]", sentence, maxsplit=1)[0].strip()
    words = (_FILLER.sub("", clause) or clause or plain).split()[:_TITLE_WORDS]
    while len(words) > 1 and words[-1].lower() in _STOP:
        words.pop()
    text = " ".join(words)[:60].strip()
    return text[:1].upper() + text[1:]


def _limited(text: str, prompt: Prompt) -> tuple[str, str]:
    """The answer cut at the first stop sequence, then at ``max_tokens``, with the finish
    reason an upstream would give."""
    for stop in prompt.options.stop or ():
        at = text.find(stop)
        if stop and at >= 0:
            text = text[:at]
    limit = prompt.max_tokens
    if limit is not None and estimate_tokens(text) > limit:
        return text[: limit * 4].rstrip(), "length"
    return text, "stop"


class ExtractiveProvider:
    name = "extractive"

    def __init__(self, delay_ms: float = 15.0) -> None:
        self._delay = delay_ms / 1000

    async def stream(self, model: ModelSpec, prompt: Prompt) -> AsyncIterator[Delta]:
        summarizing = prompt.task != "answer"
        text = (summarize(prompt) if prompt.task == "summarize"
                else title(prompt) if prompt.task == "title" else answer(prompt))
        finish = "stop"
        if not summarizing:
            text, finish = _limited(text, prompt)
        words = re.findall(r"\S+\s*", text)
        for w in words:
            if self._delay and not summarizing:
                await asyncio.sleep(self._delay)
            yield Delta(text=w)
        context = " ".join([
            prompt.question, prompt.summary or "", *(t.text for t in prompt.history),
            *(p.text for p in prompt.passages)])
        yield Delta(
            usage=Usage(
                prompt_tokens=estimate_tokens(context), completion_tokens=estimate_tokens(text)
            ),
            finish_reason=finish,
        )
