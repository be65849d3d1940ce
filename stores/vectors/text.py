"""Words as the keyword side of search and the offline embedder see them."""

from __future__ import annotations

import re

__all__ = ("STOPWORDS", "content_words", "stem", "words")

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")

# English function words: they match everywhere, so they say nothing about relevance.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each either else
ever few for from further had has have having he her here hers herself him himself his how
i if in into is it its itself just let me more most much must my myself neither no nor not
now of off on once only or other ought our ours ourselves out over own per please same she
should so some such than that the their theirs them themselves then there these they this
those through to too under until up upon us very was we were what whatever when where
whether which while who whom whose why will with within without would yes yet you your
yours yourself yourselves tell know say said shall
""".split())


def words(text: str) -> list[str]:
    """Lower-cased words and numbers, apostrophes kept inside a word."""
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower())]


def stem(word: str) -> str:
    """A light suffix stripper for plural and verb endings ("refunds" and "refund",
    "shipped" and "ships" meet); far cruder than a linguistic stemmer, and consistent."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""),
                         ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= (2 if suffix == "sses" else 3):
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "zes", "oes")):
                continue
            base = word[: len(word) - len(suffix)] + keep
            if suffix in ("ing", "ed") and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]  # shipped -> ship, running -> run
            return base
    return word


def content_words(text: str) -> list[str]:
    """The stemmed words of ``text`` that are not stopwords, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]
