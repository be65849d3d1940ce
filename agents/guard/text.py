"""What the guard reads: a text folded to one plain form, and the hidden texts it carries.

Folding undoes the tricks that make an attack look unlike its plain words to a matcher
while a model still reads it: compatibility forms (NFKC: fullwidth letters, ligatures,
mathematical letters), invisible characters (format characters such as zero-width
spaces, soft hyphens and bidi marks; Hangul and Braille fillers; variation selectors),
case, accents, look-alike letters (Latin small capitals and dotless i always; Cyrillic,
Greek and Armenian letters inside a word that also has Latin ones, as UTS #39 finds a
mixed-script confusable), digits and signs used as letters inside a word ("1gn0re",
"|gnore"), letters spaced out ("i g n o r e") and words split by hyphens ("ig-nore").

Hidden texts are read out as texts of their own (:func:`hidden`): characters of the
Unicode tag block (invisible ASCII), base64 runs that decode to text, and text written
backwards. The classifier scores each of them like the visible text.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

__all__ = ("fold", "hidden", "squeeze")

# Letters that are not format characters yet show nothing.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")

# Other scripts' letters that look like Latin ones (from Unicode's confusables data,
# for the scripts attacks use), written as escapes: they look the same. Replaced only
# inside a word with Latin letters too, so a Russian or Armenian sentence keeps its own.
_LOOKALIKES = dict(zip(
    # Cyrillic: a b e e k m h o p c t y x s i i j d l h q w b r n u n, then capitals
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443\u0445"
    "\u0455\u0456\u0457\u0458\u0501\u04cf\u04bb\u051b\u051d\u044c\u0433\u043f\u0438"
    "\u043b\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0423"
    "\u0405\u0406\u0408\u0500\u04c0"
    # Greek: a b y e n i k v o p t u x w c, then capitals
    "\u03b1\u03b2\u03b3\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7"
    "\u03c9\u03f2\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1"
    "\u03a4\u03a5\u03a7"
    # Armenian: o u n n h g q q w l, then capitals
    "\u0585\u057d\u0578\u057c\u0570\u0581\u0566\u0563\u0561\u0582\u0555\u054d\u053c"
    "\u054f\u0548\u0536"
    # Cherokee capitals
    "\u13aa\u13f4\u13df\u13a0\u13ac\u13c0\u13bb\u13ab\u13e6\u13de\u13b7\u13e2\u13da"
    "\u13a2\u13d9\u13b3",
    "abeekmhopctyxsiijdlhqwbrnun" "abekmhopctxysijdl"
    "abyenikvoptuxwc" "abezhikmnoptyx"
    "ounnhgqqwl" "oulsnz"
    "abcdeghjklmpstvw", strict=True))
# Latin letters of other shapes (dotless i, script g, long s, ...): their plain letter.
_LATIN = dict(zip("\u0131\u0237\u0261\u017f\ua781\u0251\u0269\u029f\ua730\ua731"
                  "\ua7fa\u01c0\u026a\u028f", "ijgslailfsmliy", strict=True))
# Digits and signs used as letters when they sit inside a word.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "@": "a", "$": "s", "|": "i", "!": "i", "\u20ac": "e"})
_LEET_CHARS = frozenset("013457@$|!\u20ac")
# Only words with such a sign are looked at (a callback per word costs). A match starts
# only where a word does: tried from inside a long word with no such sign, the pattern
# would scan the rest of it again at every letter (quadratic: 16,000 letters, 2 s).
_TOKEN = re.compile(r"(?<![\w@$|!\u20ac])[\w@$|!\u20ac]*[013457@$|!\u20ac][\w@$|!\u20ac]*")
_SPACED = re.compile(r"(?<!\w)(?:\w[ ._\-*/]{1,3}){3,}\w(?!\w)")
_SEPARATORS = re.compile(r"[ ._\-*/]")
_SPACES = re.compile(r"\s+")
# A hyphen between letters: "ig-nore" is read as "ignore" (and "e-mail" as "email").
_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
_NOT_LETTERS = re.compile(r"[\W\d_]+")
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _shapes() -> dict[int, str]:
    """Small capitals and modifier letters, by their Unicode names: IPA, phonetic and
    Latin extension blocks."""
    table: dict[int, str] = {}
    pattern = re.compile(r"LATIN (?:LETTER|SMALL LETTER|CAPITAL LETTER) "
                         r"(?:SMALL CAPITAL |TURNED |REVERSED |SCRIPT |MODIFIER )?([A-Z])$")
    for lo, hi in ((0x0180, 0x02FF), (0x1D00, 0x1DBF), (0xA720, 0xA7FF), (0xAB30, 0xAB6F)):
        for cp in range(lo, hi + 1):
            name = unicodedata.name(chr(cp), "")
            found = pattern.match(name)
            if found and "TURNED" not in name and "REVERSED" not in name:
                table[cp] = found.group(1).lower()
    table.update({ord(k): v for k, v in _LATIN.items()})
    return table


@lru_cache(maxsize=1)
def _invisibles() -> dict[int, None]:
    """Every character that shows nothing or only marks another (format characters,
    combining marks, fillers), to delete with ``str.translate``: the planes text and
    tags are written in, read once."""
    return {cp: None for cp in (*range(0x30000), *range(0xE0000, 0xE1000))
            if chr(cp) in _FILLERS
            or unicodedata.category(chr(cp)) in ("Cf", "Mn", "Me")}


@lru_cache(maxsize=1)
def _mixed() -> re.Pattern[str]:
    """Words with a look-alike letter in them (matched from a word's start only, as
    ``_TOKEN`` is, so a long word is scanned once)."""
    return re.compile(r"(?<!\w)\w*[" + "".join(sorted(_LOOKALIKES)) + r"]\w*")


def _unmix(word: str) -> str:
    """A word mixing Latin letters with look-alikes from other scripts, in Latin."""
    if not any(ch in _LOOKALIKES for ch in word):
        return word
    latin = any("a" <= ch <= "z" or "A" <= ch <= "Z" for ch in word)
    # A long word of look-alikes only (Cyrillic "scope") is one too; a short one may be
    # a word of its own language (Russian "all").
    if latin or (len(word) >= 5 and all(ch in _LOOKALIKES for ch in word)):
        return "".join(_LOOKALIKES.get(ch, ch) for ch in word)
    return word


def _unleet(match: re.Match[str]) -> str:
    token = match.group()
    core = token.rstrip("!|")  # "hello!" ends a sentence
    if any(ch in _LEET_CHARS for ch in core) and any(ch.isalpha() for ch in core):
        return core.translate(_LEET) + token[len(core):]
    return token


def _unspace(match: re.Match[str]) -> str:
    return _SEPARATORS.sub("", match.group())


def fold(text: str) -> str:
    """The plain form of ``text`` that both the classifier and its training data are
    read in: lower case, unaccented, look-alikes and separators undone, one space between
    words."""
    if text.isascii():
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKC", text).translate(_invisibles()).translate(_shapes())
        text = _mixed().sub(lambda m: _unmix(m.group()), text)
        text = unicodedata.normalize("NFKD", text.casefold()).translate(_invisibles())
    text = _TOKEN.sub(_unleet, text)
    text = _SPACED.sub(_unspace, text)
    text = _HYPHEN.sub("", text)
    return _SPACES.sub(" ", text).strip()


def squeeze(folded: str) -> str:
    """Letters only: what is left of a folded text when every separator trick (hyphens,
    dots, long gaps, stray signs) is taken out."""
    return _NOT_LETTERS.sub("", folded)


# -- hidden texts --------------------------------------------------------------------

_TAG_BASE = 0xE0000
_BASE64 = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
# Words frequent in any text of these languages: text written backwards has them
# backwards ("eht", "uoy").
_COMMON = frozenset(
    "the you your and to of all is are be this that it for with not in on what me my "
    "now from as at do no an or ignore instructions previous tell system prompt "
    "les des et de la le vous tu ne pas est une un pour que qui "
    "der die das und ist nicht du sie ein eine mit "
    "el la los las y que de en es por para una un tu "
    "de het een en van je jij niet is alle".split())


def _tags(text: str) -> str:
    return "".join(chr(ord(ch) - _TAG_BASE) for ch in text
                   if 0xE0020 <= ord(ch) <= 0xE007E)


def _decoded(run: str) -> str | None:
    padded = run + "=" * (-len(run) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded)
        except (binascii.Error, ValueError):
            continue
        try:
            found = raw.decode()
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch.isspace() for ch in found)
        if found and printable >= 0.9 * len(found) and _WORD.search(found):
            return found
    return None


def _backwards(folded: str) -> bool:
    words = folded.split()
    if len(words) < 3:
        return False
    common = _COMMON.__contains__
    ahead = sum(map(common, words))
    back = sum(map(common, (w[::-1] for w in words)))
    return back >= 2 and back > ahead


def hidden(text: str, folded: str, depth: int = 2) -> Iterator[tuple[str, str]]:
    """Texts carried inside ``text`` that a model can read but a reader of its visible
    letters would not, each (as it is, not folded) with the name of its hiding place."""
    tagged = _tags(text)
    if tagged:
        yield "invisible tag characters", tagged
    if _backwards(folded):
        yield "text written backwards", folded[::-1]
    for run in _BASE64.findall(text):
        if run.isalpha() and (run.islower() or run.isupper()):
            continue  # a long plain word, not an encoding
        found = _decoded(run)
        if found is not None:
            yield "base64", found
            if depth > 1:
                yield from hidden(found, fold(found), depth - 1)
