"""The rule guard chatstream had before its classifier (agents/guard/), kept as it was
for ``python -m bench.guard`` to measure the classifier against on the same texts.

It caught injection attempts and abuse before a model saw them.

Text is folded before matching, so the tricks that defeat a plain pattern do not:
compatibility forms (NFKC: fullwidth letters, ligatures), invisible format characters
(zero-width space and joiner, soft hyphen, bidi marks: Unicode category Cf), case
(casefold), accents, look-alike letters from other scripts (a Cyrillic o for "o"), a few
digit-for-letter swaps ("1gn0re") and letters spaced out ("i g n o r e"). The rules
are written as word lists in several languages and folded the same way, so a rule and
the text always meet in the same alphabet.

A guard of patterns is a tripwire, not a proof: passages are also kept out of the system
message (see ``agents/providers/messages.py``), so what it misses is still quoted as
data, never given as instructions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from schemas.events import GuardVerdict, HistoryTurn

__all__ = ("check", "check_history", "fold", "refusal")

# Latin look-alikes of Cyrillic and Greek letters (written as escapes: they look the same),
# digits used as letters, and typographic apostrophes.
_CONFUSABLES = str.maketrans({
    "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u043a": "k", "\u043c": "m",
    "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t",
    "\u0443": "y", "\u0445": "x", "\u0456": "i", "\u0458": "j", "\u0455": "s",
    "\u0501": "d", "\u04cf": "l", "\u03b1": "a", "\u03b2": "b", "\u03b5": "e",
    "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p",
    "\u03c4": "t", "\u03c5": "u", "\u03c7": "x",
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
    "\u2019": "'", "\u02bc": "'",
})
# "i g n o r e", "i.g.n.o.r.e": four or more single letters with one separator each.
_SPACED = re.compile(r"\b(?:\w[ ._\-*]){3,}\w\b")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The form both the text and the rules are matched in."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_CONFUSABLES)
    text = _SPACED.sub(lambda m: re.sub(r"[ ._\-*]", "", m.group()), text)
    return _SPACES.sub(" ", text)


@dataclass(frozen=True)
class _Rule:
    category: str
    reason: str
    pattern: re.Pattern[str]


def _words(words: Iterable[str]) -> str:
    # Longest first, so "instructions" is tried before "instruction".
    folded = sorted({fold(w).strip() for w in words}, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s?") for w in folded)


def _near(*groups: Iterable[str], gap: int = 40, spaced: bool = True) -> re.Pattern[str]:
    """Each group's words in order, at most ``gap`` characters apart (``spaced``: whole
    words; off for scripts written without spaces)."""
    edge = r"\b" if spaced else ""
    parts = [f"{edge}(?:{_words(g)})" for g in groups]
    return re.compile(f".{{0,{gap}}}?".join(parts), re.S)


# -- the rules: verbs of setting aside, what is set aside, in several languages --------

_EN_DROP = ("ignore", "disregard", "forget", "override", "bypass", "abandon", "overlook",
            "discard", "set aside", "pay no attention to", "stop following", "do not follow",
            "don't follow", "no longer follow", "never mind", "nevermind", "throw away")
_EN_WHICH = ("previous", "prior", "above", "earlier", "preceding", "all", "any", "your",
             "initial", "original", "system", "developer", "every", "those")
_EN_WHAT = ("instructions", "instruction", "rules", "prompt", "prompts", "directions",
            "guidelines", "guidance", "directives", "constraints", "commands", "orders",
            "programming", "policies", "restrictions", "guardrails", "safeguards",
            "limitations")

_FOREIGN: tuple[tuple[tuple[str, ...], tuple[str, ...], bool], ...] = (
    # French
    (("ignore", "ignorez", "ignorer", "oublie", "oubliez", "oublier", "ne tiens pas compte",
      "ne tenez pas compte"),
     ("instructions", "consignes", "regles", "directives", "prompt"), True),
    # Spanish
    (("ignora", "ignore", "ignorar", "olvida", "olvide", "olvidar", "omite", "descarta"),
     ("instrucciones", "reglas", "indicaciones", "directrices", "ordenes"), True),
    # German
    (("ignoriere", "ignorier", "ignorieren", "vergiss", "vergessen", "missachte",
      "missachten"),
     ("anweisungen", "anweisung", "instruktionen", "regeln", "vorgaben", "befehle",
      "richtlinien"), True),
    # Italian
    (("ignora", "ignorare", "dimentica", "dimenticare", "trascura"),
     ("istruzioni", "regole", "indicazioni", "direttive"), True),
    # Portuguese
    (("ignore", "ignora", "ignorar", "esqueca", "esquece", "esquecer", "desconsidere"),
     ("instrucoes", "regras", "diretrizes", "orientacoes"), True),
    # Russian
    (("игнорируй", "игнорируйте", "игнорировать", "забудь", "забудьте", "проигнорируй",
      "не обращай внимания на"),
     ("инструкции", "инструкций", "указания", "указаний", "правила", "правил",
      "промпт", "команды"), True),
    # Chinese (simplified and traditional) and Japanese: no spaces between words.
    (("忽略", "无视", "無視", "忘记", "忘記", "忘掉", "不要理会", "不要遵守"),
     ("指令", "指示", "说明", "說明", "规则", "規則", "提示", "命令", "设定", "設定"), False),
    (("無視", "忘れ"), ("指示", "命令", "ルール", "プロンプト", "設定"), False),
)

_REVEAL = ("reveal", "show", "print", "repeat", "leak", "tell me", "what is", "what are",
           "what was", "what were", "output", "display", "give me", "dump", "share",
           "copy", "write out", "spell out", "recite", "disclose", "expose")
_SECRET = ("system", "hidden", "initial", "original", "secret", "developer", "internal",
           "confidential", "first", "starting", "pre-prompt", "preprompt")
_PROMPT = ("prompt", "instructions", "instruction", "message", "rules", "guidelines",
           "directives", "configuration")

_ROLEPLAY = ("you are now", "act as", "acting as", "pretend to be", "pretend you are",
             "roleplay as", "role-play as", "imagine you are", "behave as", "become",
             "from now on you are", "switch to", "you will now be")
_UNBOUND = ("dan", "jailbroken", "jailbreak", "unrestricted", "unfiltered", "uncensored",
            "unaligned", "without any rules", "without rules", "without restrictions",
            "without any restrictions", "without filters", "without limits",
            "without any limits", "without guidelines", "no rules", "no restrictions",
            "no filters", "no limits", "no guidelines", "evil", "amoral")

_RULES: tuple[_Rule, ...] = (
    _Rule("injection", "asks to ignore earlier instructions",
          _near(_EN_DROP, _EN_WHICH, _EN_WHAT, gap=30)),
    _Rule("injection", "asks to ignore earlier instructions",
          _near(_EN_DROP, _EN_WHAT, ("you were given", "you've been given", "you received",
                                     "you have been given", "given to you", "earlier",
                                     "so far", "above"), gap=25)),
    *(_Rule("injection", "asks to ignore earlier instructions",
            _near(verbs, nouns, gap=40, spaced=spaced))
      for verbs, nouns, spaced in _FOREIGN),
    # Chinese and Japanese also put the object first ("把指令忽略", "指示を無視").
    *(_Rule("injection", "asks to ignore earlier instructions",
            _near(nouns, verbs, gap=10, spaced=False))
      for verbs, nouns, spaced in _FOREIGN if not spaced),
    _Rule("injection", "asks for the system prompt", _near(_REVEAL, _SECRET, _PROMPT, gap=30)),
    _Rule("injection", "asks for the system prompt",
          _near(("repeat", "print", "output", "copy"), ("text", "words", "everything"),
                ("above", "before this", "verbatim"), gap=30)),
    _Rule("injection", "asks the model to drop its rules", _near(_ROLEPLAY, _UNBOUND)),
    _Rule("injection", "asks the model to drop its rules", _near(("do anything now",))),
    _Rule("injection", "jailbreak mode",
          _near(("developer", "god", "jailbreak", "dan", "sudo", "admin", "debug",
                 "unrestricted", "maintenance"), ("mode",), gap=3)),
    _Rule("injection", "poses as a system message", re.compile(
        r"\[/?(?:system|inst)\]|<\|im_start\|>\s*system|<\|?system\|?>|"
        r"(?:^|\n)\s*#{2,}\s*system\b|\bsystem\s*(?:prompt|message|override)\s*:")),
    _Rule("injection", "gives the model new instructions",
          _near(("your new", "your real", "your actual", "your true", "your updated",
                 "here are your new", "these are your new"),
                ("instructions", "directives", "rules", "orders", "task", "role", "purpose"),
                gap=8)),
    _Rule("abuse", "asks for help with serious harm",
          _near(("how do i", "how can i", "how to", "how would i", "how would you",
                 "steps to", "instructions for", "guide to", "recipe for", "teach me to",
                 "help me"),
                ("make", "build", "synthesize", "synthesise", "produce", "cook",
                 "assemble", "create", "manufacture"),
                ("bomb", "explosive", "explosives", "nerve agent", "sarin", "bioweapon",
                 "chemical weapon", "meth", "methamphetamine", "pipe bomb", "ricin"),
                gap=30)),
    _Rule("abuse", "threatens violence",
          _near(("i'm", "i am", "i will", "i'll", "i want to", "i'm going to",
                 "i am going to", "im going to"),
                ("kill", "murder", "hurt", "stab", "shoot"),
                ("you", "him", "her", "them"), gap=20)),
)


def check(text: str) -> GuardVerdict:
    folded = fold(text)
    for rule in _RULES:
        if rule.pattern.search(folded):
            return GuardVerdict(allowed=False, category=rule.category, reason=rule.reason)
    return GuardVerdict()


def check_history(turns: Iterable[HistoryTurn]) -> GuardVerdict:
    """The first turn the guard would refuse, as a verdict naming the history; turns a
    client sends travel to the model as much as its last message does."""
    for turn in turns:
        verdict = check(turn.text)
        if not verdict.allowed:
            return verdict.model_copy(
                update={"reason": f"{verdict.reason}, in the conversation history"})
    return GuardVerdict()


def refusal(verdict: GuardVerdict) -> str:
    if verdict.category == "injection":
        return ("I can't do that: the message tries to change my instructions "
                f"({verdict.reason}). Ask me your question directly and I'll help.")
    return ("I can't help with that request. If someone is in danger, please contact "
            "local emergency services.")
