"""The prompt guard: catches injection attempts and abuse before a model sees them."""

from __future__ import annotations

import re

from schemas.events import GuardVerdict

__all__ = ("check", "refusal")

_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("injection", "asks to ignore earlier instructions", re.compile(
        r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|earlier|all|your)\b"
        r".{0,20}\b(instructions?|rules|prompts?|directions)\b", re.I | re.S)),
    ("injection", "asks for the system prompt", re.compile(
        r"\b(reveal|show|print|repeat|leak|what is)\b.{0,30}\b(system|hidden|initial)\s+"
        r"(prompt|instructions?|message)\b", re.I | re.S)),
    ("injection", "asks the model to drop its rules", re.compile(
        r"\b(you are now|act as|pretend to be)\b.{0,40}\b(DAN|jailbr(oken|eak)|unrestricted|"
        r"without (any )?(rules|restrictions|filters))\b", re.I | re.S)),
    ("injection", "jailbreak mode", re.compile(r"\b(developer|god|jailbreak) mode\b", re.I)),
    ("abuse", "asks for help with serious harm", re.compile(
        r"\b(how (do|can|to) (i |you )?)(make|build|synthesi[sz]e)\b.{0,30}"
        r"\b(bomb|explosive|nerve agent|bioweapon|meth(amphetamine)?)\b", re.I | re.S)),
    ("abuse", "threatens violence", re.compile(
        r"\bi('m| am| will| want to)\b.{0,20}\b(kill|murder|hurt)\b.{0,20}\b(you|him|her|them)\b",
        re.I | re.S)),
)


def check(text: str) -> GuardVerdict:
    for category, reason, pattern in _RULES:
        if pattern.search(text):
            return GuardVerdict(allowed=False, category=category, reason=reason)
    return GuardVerdict()


def refusal(verdict: GuardVerdict) -> str:
    if verdict.category == "injection":
        return ("I can't do that: the message tries to change my instructions "
                f"({verdict.reason}). Ask me your question directly and I'll help.")
    return ("I can't help with that request. If someone is in danger, please contact "
            "local emergency services.")
