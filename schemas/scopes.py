"""Knowledge scopes: where a document may be cited.

A document belongs to one scope. ``tenant`` (the library): every member's answers may cite
it. ``conversation:<id>``: only that conversation's answers, and only its owner sees it.
``assistant:<name>``: the answers of that assistant (and of assistants whose collections
name it); every member sees it, its admins add to it.
Retrieval searches each scope that applies to a message, narrowest first (see
``agents.retrieval.passages``); a new kind of scope is a new ``kind`` here, a rule for who
sees it at the edge and a line in retrieval's ``scopes_of``.

Stores and indexes keep a scope as its :attr:`Scope.key`: ``""`` for the tenant and the bare
id for a conversation (what they held before scopes had kinds, so nothing is migrated), and
``kind:id`` for any other kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ("SCOPE_KINDS", "TENANT", "Scope", "ScopeKind")

ScopeKind = Literal["tenant", "conversation", "assistant"]
SCOPE_KINDS: tuple[str, ...] = get_args(ScopeKind)
_MAX_ID = 200


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind = "tenant"
    id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SCOPE_KINDS:
            raise ValueError(f"unknown scope kind {self.kind!r}; kinds: "
                             f"{', '.join(SCOPE_KINDS)}")
        if (self.kind == "tenant") != (self.id == ""):
            raise ValueError("the tenant scope has no id; every other scope has one")
        if len(self.id) > _MAX_ID or ":" in self.id:
            raise ValueError("a scope id has at most 200 characters and no ':'")

    @classmethod
    def conversation(cls, conversation_id: str) -> Scope:
        return cls("conversation", conversation_id)

    @classmethod
    def assistant(cls, name: str) -> Scope:
        return cls("assistant", name)

    @property
    def key(self) -> str:
        """The stored form (see the module's docstring)."""
        if self.kind == "tenant":
            return ""
        if self.kind == "conversation":
            return self.id
        return f"{self.kind}:{self.id}"

    @classmethod
    def of_key(cls, key: str | None) -> Scope:
        if not key:
            return TENANT
        kind, sep, ident = key.partition(":")
        if not sep:
            return cls.conversation(key)
        return cls(kind, ident)  # type: ignore[arg-type]  # checked in __post_init__

    @classmethod
    def parse(cls, text: str) -> Scope:
        """The API's spelling: ``tenant``, or ``kind:id`` (``conversation:<id>``).
        Raises ValueError for anything else."""
        if text == "tenant":
            return TENANT
        kind, sep, ident = text.partition(":")
        if not sep or not ident:
            raise ValueError(f"a scope is 'tenant' or 'kind:id', not {text[:50]!r}")
        return cls(kind, ident)  # type: ignore[arg-type]  # checked in __post_init__

    def __str__(self) -> str:
        return "tenant" if self.kind == "tenant" else f"{self.kind}:{self.id}"

    @property
    def conversation_id(self) -> str | None:
        return self.id if self.kind == "conversation" else None


TENANT = Scope()
