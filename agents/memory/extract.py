"""Facts a person would keep about a user, proposed by rules from what the user wrote.

Offline and deterministic (the extractive model's way): first-person statements of
durable things (a name, where they live or work, what they work on, their role, their
preferences, how they want answers) become short third-person facts. Questions,
hypotheticals and passing states ("I am tired") are left alone; so is anything the
assistant said. Measured on bench/data/memory_conversations.jsonl (docs/memory.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ("Fact", "propose_facts", "same_fact")

MAX_FACT_CHARS = 160
MAX_FACTS_PER_MESSAGE = 3


@dataclass(frozen=True, slots=True)
class Fact:
    text: str
    # Facts of one slot replace each other (a new name replaces the old one): a pattern
    # every fact of the slot matches (``^Lives in .+$``); None: they accumulate.
    slot: str | None = None

    def replaces(self, other: str) -> bool:
        return self.slot is not None and re.match(self.slot, other, re.IGNORECASE) is not None


_OBJECT = r"(?P<x>[^.!?;\n]{2,120})"
_PLACE = r"(?P<x>(?-i:[A-Z][\w' -]{1,60}?))(?=[,.!?;]|$| and )"
_LANGUAGES = (r"English|French|German|Spanish|Italian|Portuguese|Dutch|Polish|Swedish|"
              r"Norwegian|Danish|Finnish|Japanese|Chinese|Korean|Arabic|Hindi|Russian|"
              r"Turkish|Greek|Czech|Ukrainian")
_RULES: tuple[tuple[re.Pattern[str], str, str | None], ...] = tuple(
    (re.compile(p, re.IGNORECASE), t, s) for p, t, s in (
        (rf"\b(?:answer|reply|respond|write|talk)(?: to me)?(?: always)? in (?P<x>{_LANGUAGES})\b",
         "Prefers answers in {x}", "language"),
        (rf"\bI (?:prefer|want|like) (?:answers|replies|responses) in (?P<x>{_LANGUAGES})\b",
         "Prefers answers in {x}", "language"),
        (r"\b(?:please )?(?:keep|make) (?:your )?(?:answers|replies) (?P<x>short|brief|"
         r"concise|detailed|long)\b", "Prefers {x} answers", "length"),
        (r"\bI prefer (?P<x>short|brief|concise|detailed|long) (?:answers|replies)\b",
         "Prefers {x} answers", "length"),
        (r"\bmy name is (?P<x>(?-i:[A-Z][\w'-]+(?: [A-Z][\w'-]+){0,2}))", "Is called {x}", "name"),
        (r"\bcall me (?P<x>(?-i:[A-Z][\w'-]+))", "Wants to be called {x}", "name"),
        (r"\bI(?: am|'m) (?:based|living) in " + _PLACE, "Lives in {x}", "home"),
        (r"\bI live in " + _PLACE, "Lives in {x}", "home"),
        (r"\bI(?: am|'m) (?:currently )?working on " + _OBJECT, "Works on {x}", None),
        (r"\bI work on " + _OBJECT, "Works on {x}", None),
        (r"\bI work (?:at|for) (?P<x>(?-i:[A-Z][\w&.' -]{1,60}?))(?=[,.!?;]|$| as | and )",
         "Works at {x}", "employer"),
        (r"\bI work as (?:an? )?" + _OBJECT, "Works as {x}", "role"),
        (r"\bI(?: am|'m) (?:an?|the) (?P<x>(?:senior |junior |lead |staff |principal )?"
         r"(?:[\w-]+ ){0,2}(?:engineer|developer|designer|manager|analyst|scientist|teacher|"
         r"nurse|doctor|lawyer|student|architect|consultant|writer|researcher|"
         r"administrator|admin|owner|founder|accountant|marketer|chef))\b",
         "Is a {x}", "role"),
        (r"\bworking (?P<x>night shifts|nights|weekends|part[- ]time|remotely|from home)\b",
         "Works {x}", None),
        (r"\bI(?: am|'m) allergic to " + _OBJECT, "Is allergic to {x}", None),
        (r"\bI(?: am|'m) (?:a )?(?P<x>vegetarian|vegan)\b", "Is {x}", "diet"),
        (r"\bI (?:use|code in|program in|write) (?P<x>(?:Python|Go|Rust|Java|TypeScript|"
         r"JavaScript|Kotlin|Swift|C\+\+|C#|Ruby|PHP|Scala|Elixir|Haskell)"
         r"(?: and (?:Python|Go|Rust|Java|TypeScript|JavaScript|Kotlin|Swift|C\+\+|C#|"
         r"Ruby|PHP|Scala|Elixir|Haskell))?)\b", "Uses {x}", None),
        (r"\bI (?:really )?(?:prefer|like|love|enjoy) " + _OBJECT, "Likes {x}", None),
        (r"\bI (?:really )?(?:dislike|hate|can't stand|do not like|don't like) " + _OBJECT,
         "Dislikes {x}", None),
        (r"\bmy (?P<k>favou?rite [\w ]{2,30}|team|manager|timezone|time zone|company|"
         r"birthday|pronouns) (?:is|are) " + _OBJECT, "{k} is {x}", "my:{k}"),
    ))
_SKIP = re.compile(r"\b(?:if I|would I|should I|can I|could I|do I|am I|I wonder|"
                   r"I think|maybe|tomorrow|today|tonight|right now|yesterday)\b",
                   re.IGNORECASE)
_BROAD = frozenset({"Likes", "Dislikes"})
_TRAILING = re.compile(r"\s+(?:too|as well|a lot|very much|so much|now)$", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?;])\s+|\n+", text)
    return [p.strip() for p in parts if p.strip()]


def _clean(value: str) -> str:
    value = " ".join(value.split()).strip(" ,:'\"")
    return _TRAILING.sub("", value)


def propose_facts(user_text: str) -> list[Fact]:
    """The facts a user's message states about them, at most three, in order."""
    found: list[Fact] = []
    for sentence in _sentences(user_text):
        if sentence.endswith("?") or _SKIP.search(sentence):
            continue
        read = False
        for pattern, template, slot in _RULES:
            # The broad rules (likes, dislikes, works on) only read a sentence no
            # specific rule did: "I prefer answers in French" is a language, not a like.
            if read and template.split(" ", 1)[0] in _BROAD:
                continue
            match = pattern.search(sentence)
            if match is None:
                continue
            groups = {k: _clean(v) for k, v in match.groupdict().items() if v}
            if not groups.get("x"):
                continue
            text = template.format(**groups)
            text = (text[0].upper() + text[1:])[:MAX_FACT_CHARS]
            shape = template.replace("{x}", "\0").format(**groups)
            fact = Fact(text, "^" + re.escape(shape).replace("\0", ".+") + "$"
                        if slot else None)
            if any(f.slot is not None and f.slot == fact.slot for f in found):
                continue
            if not any(same_fact(fact.text, f.text) for f in found):
                found.append(fact)
                read = True
        if len(found) >= MAX_FACTS_PER_MESSAGE:
            break
    return found


def same_fact(a: str, b: str) -> bool:
    norm = re.compile(r"[^a-z0-9]+")
    return norm.sub(" ", a.lower()).strip() == norm.sub(" ", b.lower()).strip()
