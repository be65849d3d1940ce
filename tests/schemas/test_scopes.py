"""Knowledge scopes: their API spelling, their stored key, and what is refused."""

from __future__ import annotations

import pytest

from schemas.scopes import TENANT, Scope


@pytest.mark.parametrize(("text", "scope", "key"), [
    ("tenant", TENANT, ""),
    ("conversation:c-1", Scope("conversation", "c-1"), "c-1"),
])
def test_spelling_and_key_round_trip(text: str, scope: Scope, key: str) -> None:
    assert Scope.parse(text) == scope
    assert str(scope) == text
    assert scope.key == key and Scope.of_key(key) == scope


def test_keys_written_before_scopes_had_kinds_still_read() -> None:
    assert Scope.of_key(None) == TENANT
    assert Scope.of_key("3f2a-conversation-id") == Scope.conversation("3f2a-conversation-id")


@pytest.mark.parametrize("text", ["", "everyone", "conversation:", "planet:mars",
                                  "tenant:x", "conversation:a:b", "conversation:" + "x" * 201])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        Scope.parse(text)
