"""The committed JSON Schemas (schemas/json/) are the topics' published contracts: a model
change that would break their consumers fails here unless the topic's version is bumped."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import TypeAdapter, create_model

from chatstream.cli import main
from schemas.contracts import breaking_changes, topic_schemas
from schemas.events import ScoresComputed
from schemas.topics import ALL_TOPICS

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "json"


def _committed(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((COMMITTED / name).read_text())
    return schema


def _current() -> dict[str, dict[str, Any]]:
    return {name: s for t in ALL_TOPICS for name, s in topic_schemas(t).items()}


def test_models_do_not_break_the_committed_schemas() -> None:
    problems = []
    for name, schema in _current().items():
        path = COMMITTED / name
        if path.exists():  # a new topic or a bumped .vN has no consumers yet
            problems += [f"{name}: {p}" for p in breaking_changes(_committed(name), schema)]
    assert not problems, ("breaking changes to published topics; publish them on a new "
                          ".vN topic instead:\n" + "\n".join(problems))


def test_committed_schemas_are_current(tmp_path: Path) -> None:
    assert main(["schemas", "export", str(tmp_path)]) == 0
    exported = {p.relative_to(tmp_path).as_posix(): p.read_text()
                for p in tmp_path.rglob("*.json")}
    committed = {p.relative_to(COMMITTED).as_posix(): p.read_text()
                 for p in COMMITTED.rglob("*.json")}
    for name, text in exported.items():
        assert committed.get(name) == text, (
            f"{name} is not committed as exported: run `chatstream schemas export "
            "schemas/json` and commit the result")


def test_every_event_type_of_the_token_topic_has_its_own_schema() -> None:
    names = {p.name for p in (COMMITTED / "chat.tokens.v1").glob("*.json")}
    assert names == {"answer.started.json", "citations.attached.json",
                     "tokens.generated.json", "answer.finished.json", "answer.failed.json",
                     "tool_call.generated.json"}


# Deliberately changed copies of a published schema: each breaking kind must be caught.

def _responses() -> dict[str, Any]:
    return copy.deepcopy(_committed("chat.responses.v1.json"))


def _removed(s: dict[str, Any]) -> None:
    del s["properties"]["provider"]
    s["required"].remove("provider")


def _retyped(s: dict[str, Any]) -> None:
    s["properties"]["duration_ms"] = {"type": "string", "title": "Duration Ms"}


def _newly_required(s: dict[str, Any]) -> None:
    s["required"].append("time_to_first_token_ms")


def _nested_retyped(s: dict[str, Any]) -> None:
    s["$defs"]["Usage"]["properties"]["prompt_tokens"] = {"type": "string"}


def _new_required_property(s: dict[str, Any]) -> None:
    s["properties"]["region"] = {"type": "string"}
    s["required"].append("region")


def _nullable(s: dict[str, Any]) -> None:
    s["properties"]["text"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


@pytest.mark.parametrize("change", [_removed, _retyped, _newly_required, _nested_retyped,
                                    _new_required_property, _nullable])
def test_breaking_changes_are_caught(change: Any) -> None:
    new = _responses()
    change(new)
    assert breaking_changes(_responses(), new), change.__name__


def _new_optional(s: dict[str, Any]) -> None:
    s["properties"]["region"] = {"anyOf": [{"type": "string"}, {"type": "null"}],
                                 "default": None}


def _no_longer_required(s: dict[str, Any]) -> None:
    s["required"].remove("provider")
    s["properties"]["provider"]["default"] = "local"


def _narrowed_number(s: dict[str, Any]) -> None:
    s["properties"]["duration_ms"] = {"type": "integer", "title": "Duration Ms"}


@pytest.mark.parametrize("change", [_new_optional, _no_longer_required, _narrowed_number])
def test_compatible_changes_pass(change: Any) -> None:
    new = _responses()
    change(new)
    assert breaking_changes(_responses(), new) == []


def test_a_removed_enum_value_in_a_model_is_caught() -> None:
    # The model itself, changed as a developer would: one intent dropped.
    fields: dict[str, Any] = {
        "intent": (Literal["faq", "booking", "sales", "support", "other"], ...)}
    narrowed = create_model("ScoresComputed", __base__=ScoresComputed, **fields)
    new = TypeAdapter(narrowed).json_schema()
    problems = breaking_changes(_committed("chat.scores.v1.json"), new)
    assert problems == ["$.intent: enum values removed ['escalation']"]


def test_a_removed_event_type_of_a_union_is_caught() -> None:
    old = _committed("chat.tokens.v1.json")
    new = copy.deepcopy(old)
    del new["discriminator"]["mapping"]["answer.failed"]
    new["oneOf"] = [o for o in new["oneOf"] if "AnswerFailed" not in o["$ref"]]
    assert breaking_changes(old, new) == ["$: event type 'answer.failed' removed"]
