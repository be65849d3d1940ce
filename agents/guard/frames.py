"""Frames: the shapes an attack takes whatever its words, as features for the classifier.

A frame is two word groups near each other in a folded text: a verb of setting aside
and what is set aside ("ignore ... instructions", "olvida ... reglas"), a verb of
showing and a hidden prompt ("print ... system prompt"), a new identity and the absence
of rules ("you are now ... without restrictions"), a mode that lifts them ("developer
mode"), a message posing as the system's or the end of the user's input, words
addressed to an AI reading a page. The word lists cover the languages of the corpora; a
frame only says the shape is there, the classifier learns from the data how much that
weighs (a developer asking to "ignore files in git" sets no frame of instructions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from agents.guard.text import fold

__all__ = ("frames",)

_DROP = (
    # English
    "ignore", "disregard", "forget", "override", "bypass", "set aside", "abandon",
    "overlook", "discard", "drop", "skip", "cancel", "revoke", "void", "supersede",
    "pay no attention", "stop following", "do not follow", "don't follow", "no longer",
    "never mind", "throw away", "erase", "delete", "unlearn", "lift", "disable",
    # French, Spanish, Italian, Portuguese, Romanian
    "ignore", "ignorez", "ignorer", "oublie", "oubliez", "ne tiens pas compte",
    "ignora", "ignorar", "olvida", "olvidar", "omite", "descarta", "dimentica",
    "trascura", "esqueca", "esquece", "desconsidere", "ignora", "uita",
    "ignorati",
    # German, Dutch, Scandinavian, Finnish
    "ignoriere", "ignorieren", "vergiss", "vergessen", "missachte",
    "negeer", "vergeet", "let niet op", "ignorera", "glom", "ignorer", "glem",
    "jata huomiotta", "unohda",
    # Slavic, Greek, Hungarian, Turkish
    "zignoruj", "ignoruj", "zapomnij", "zapomen", "ignoruj", "игнорируй", "забудь",
    "проигнорируй", "ігноруй", "забудь", "αγνοησε", "ξεχασε", "hagyd figyelmen kivul",
    "felejtsd el", "yok say", "unut",
    # Asian, Semitic, Indic
    "忽略", "无视", "無視", "忘记", "忘記", "忘掉", "忘れ", "무시", "잊", "bo qua", "quen",
    "abaikan", "lupakan", "تجاهل", "انس", "התעלם", "שכח", "अनदेखा", "भूल",
)
_RULES = (
    "instructions", "instruction", "rules", "rule", "prompt", "prompts", "directions",
    "guidelines", "guidance", "directives", "constraints", "commands", "orders",
    "programming", "policies", "policy", "restrictions", "guardrails", "safeguards",
    "limitations", "limits", "filters",
    "settings", "system message", "what you were told", "everything above",
    "consignes", "regles", "directives", "instrucciones", "reglas",
    "directrices", "pautas", "istruzioni", "regole", "instrucoes", "regras", "diretrizes",
    "instructiunile", "regulile", "anweisungen", "anweisung", "regeln", "richtlinien",
    "vorgaben", "befehle", "instructies", "regels", "richtlijnen", "instruktioner",
    "regler", "ohjeet", "saantosi", "instrukcje", "zasady", "polecenia", "instrukce",
    "pravidla", "инструкции", "правила", "указания", "промпт", "інструкції", "правила",
    "οδηγιες", "κανονες", "utasitast", "szabalyodat", "talimatlari", "kurallarini",
    "指令", "指示", "规则", "規則", "提示", "ルール", "命令", "지시", "규칙",
    "huong dan", "quy tac", "instruksi", "aturan", "التعليمات", "قواعد", "ההוראות",
    "הכללים", "निर्देशों", "नियम",
)
_SHOW = (
    "reveal", "show", "print", "repeat", "leak", "tell me", "output", "display", "give me",
    "dump", "share", "copy", "write out", "spell out", "recite", "disclose", "expose",
    "quote", "echo", "paste", "list", "translate", "encode", "what is", "what are",
    "what was", "what were", "affiche", "montre", "revele", "muestrame", "muestra",
    "revela", "mostrami", "mostra", "mostre", "zeig", "gib", "toon", "geef", "pokaz",
    "ujawnij", "wypisz", "покажи", "выведи", "显示", "告诉", "表示", "見せ", "보여",
    "afiseaza", "dezvaluie",
)
_SECRET = (
    "system prompt", "system message", "systemprompt", "initial prompt", "initial instructions",
    "original prompt", "original instructions", "hidden instructions", "hidden prompt",
    "secret", "confidential", "pre-prompt", "preprompt", "your instructions", "your prompt",
    "your rules", "your configuration", "your guidelines", "developer message",
    "text above", "words above", "everything above", "before this", "context window",
    "prompt systeme", "prompt del sistema", "prompt di sistema", "prompt de sistema",
    "systeemprompt", "prompt systemowy", "системный промпт", "系统提示", "システムプロンプト",
    "시스템 프롬프트", "verborgen", "versteckt", "cachees", "ocultas", "nascoste",
    "ukryte", "скрытые", "隐藏", "隠された",
)
_NEW_SELF = (
    "you are now", "you're now", "from now on", "act as", "acting as", "pretend",
    "roleplay", "role-play", "role play", "imagine you", "become", "you will now",
    "switch to", "enter", "enable", "activate", "simulate", "respond as", "behave as",
    "stay in character", "you are", "tu es maintenant", "a partir de maintenant",
    "ahora eres", "a partir de ahora", "da ora", "a partir de agora", "du bist jetzt",
    "ab jetzt", "je bent nu", "vanaf nu", "jestes teraz", "od teraz", "теперь ты",
    "\u0441 этого момента", "你现在", "从现在开始", "今から", "지금부터",
)
_UNBOUND = (
    "dan", "do anything now", "jailbroken", "jailbreak", "unrestricted", "unfiltered",
    "uncensored", "unaligned", "without any rules", "without rules", "without restrictions",
    "without limits", "without filters", "without guidelines", "without any restrictions",
    "no rules", "no restrictions", "no filters", "no filter", "no limits", "no guidelines",
    "no ethical", "no morals", "evil", "amoral", "never refuse", "free ai", "sans aucune",
    "sans restriction", "sin filtros", "sin restricciones", "sin reglas", "senza limiti",
    "sem restricoes", "ohne regeln", "ohne einschrankungen", "keine regeln", "zonder regels",
    "zonder beperkingen", "bez ograniczen", "bez zadnych", "без правил", "без ограничений",
    "没有任何限制", "没有任何规则", "制限なし", "ルールがありません", "제한 없이", "규칙도 없다",
)
_MODE = ("developer", "god", "jailbreak", "dan", "sudo", "admin", "debug", "unrestricted",
         "maintenance", "opposite", "no filter", "unfiltered")
_MARKERS = re.compile(
    # Folding reads a "|" before letters as an "i": "<|im_start|>" is "<iim_start|>".
    r"\[/?(?:system|inst|admin)\]|<[|i]{0,2}(?:im_start|im_end|system|endoftext)|<<sys>>|"
    r"</?system>|#{2,}\s*(?:system|instruction|response)|(?:^|\s)(?:system|admin)\s*:"
    r"|end of (?:user )?(?:input|document|prompt)|new (?:system )?(?:instructions|prompt)\s*:"
    r"|(?:^|\s)(?:human|user|assistant)\s*:.*(?:assistant|user|human)\s*:")
_READER = re.compile(
    r"\b(?:ai|ais|assistant|assistants|language model|language models|llm|llms|chatbot|"
    r"model|summarizer|summariser|translator|agent|agents)\b.{0,40}?\b(?:reading|processing|"
    r"summari[sz]ing|reviewing|must|should|please|ignore)\b")


def _group(words: Iterable[str]) -> str:
    folded = sorted({fold(w) for w in words}, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s?") for w in folded if w)


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    def near(a: Iterable[str], b: Iterable[str], gap: int) -> re.Pattern[str]:
        return re.compile(f"(?:{_group(a)}).{{0,{gap}}}?(?:{_group(b)})", re.S)
    return (
        # Gaps as long as a sentence: padding between the words is a trick of its own.
        ("drop", near(_DROP, _RULES, 150)),
        ("show", near(_SHOW, _SECRET, 100)),
        ("unbound", near(_NEW_SELF, _UNBOUND, 100)),
        ("mode", re.compile(f"\\b(?:{_group(_MODE)})\\s?mode\\b")),
        ("marker", _MARKERS),
        ("reader", _READER),
    )


def frames(folded: str) -> list[str]:
    """The frames found in a folded text."""
    return [name for name, pattern in _patterns() if pattern.search(folded)]
