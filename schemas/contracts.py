"""The published JSON Schemas of the topics, and the rule that says which changes break them.

One JSON Schema per event type and one for each topic's value (the union, on topics that
carry several event types). A change is compatible when every consumer written against
the old schema still reads the new events: nothing it reads is removed, retyped or
narrowed, and nothing it does not send becomes required. Anything else needs a new
``.vN`` topic. Pure functions: the command line writes the files, a test compares them.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas.topics import TopicSpec

__all__ = ("breaking_changes", "event_types", "topic_schemas")

Schema = dict[str, Any]


def event_types(topic: TopicSpec) -> list[type[BaseModel]]:
    """The event models a topic carries: its value type, or each member of its union."""
    tp = topic.value_type
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    members = typing.get_args(tp) or (tp,)
    return [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]


def _type_name(model: type[BaseModel]) -> str:
    field = model.model_fields.get("type")
    default = field.default if field is not None else None
    return str(default) if isinstance(default, str) else model.__name__


def topic_schemas(topic: TopicSpec) -> dict[str, Schema]:
    """``{file name: schema}``: ``<topic>.json`` for the topic's value and, on a topic
    with several event types, ``<topic>/<event type>.json`` for each."""
    out: dict[str, Schema] = {f"{topic.name}.json": topic.adapter().json_schema()}
    models = event_types(topic)
    if len(models) > 1:
        for model in models:
            out[f"{topic.name}/{_type_name(model)}.json"] = TypeAdapter(model).json_schema()
    return out


def _resolve(schema: Schema, root: Schema) -> Schema:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}), root)
    return schema


def _types(schema: Schema, root: Schema) -> set[str]:
    """The JSON types a schema admits (``anyOf`` flattened); empty means any."""
    schema = _resolve(schema, root)
    if "anyOf" in schema or "oneOf" in schema:
        found: set[str] = set()
        members: list[Schema] = schema.get("anyOf") or schema.get("oneOf") or []
        for sub in members:
            sub_types = _types(sub, root)
            if not sub_types:
                return set()
            found |= sub_types
        return found
    tp = schema.get("type")
    if isinstance(tp, list):
        return set(tp)
    if isinstance(tp, str):
        return {tp}
    if "properties" in schema:
        return {"object"}
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return {_JSON_TYPES.get(type(v).__name__, "string") for v in values}
    return set()


_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
               "NoneType": "null"}


def _within(new: set[str], old: set[str]) -> bool:
    widened = old | ({"integer"} if "number" in old else set())  # an integer is a number
    return bool(new) and new <= widened


def _enum(schema: Schema, root: Schema) -> set[Any] | None:
    schema = _resolve(schema, root)
    if "enum" in schema:
        return set(schema["enum"])
    if "const" in schema:
        return {schema["const"]}
    return None


def breaking_changes(old: Schema, new: Schema, where: str = "$",
                     old_root: Schema | None = None,
                     new_root: Schema | None = None) -> list[str]:
    """What in ``new`` breaks a consumer of ``old``: removed properties, changed types,
    newly required properties, removed enum values, recursively. Empty: compatible."""
    old_root = old if old_root is None else old_root
    new_root = new if new_root is None else new_root
    old_s, new_s = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    old_types, new_types = _types(old_s, old_root), _types(new_s, new_root)
    if old_types and not _within(new_types, old_types):
        # A consumer copes with the types it knew; a new one (or a new null) it may not.
        problems.append(f"{where}: type {sorted(old_types)} became {sorted(new_types) or 'any'}")
    old_enum, new_enum = _enum(old_s, old_root), _enum(new_s, new_root)
    if old_enum is not None and new_enum is not None and new_enum - old_enum:
        # Producers may send a value old consumers do not know.
        problems.append(f"{where}: enum values added {sorted(map(str, new_enum - old_enum))}")
    if old_enum is not None and new_enum is not None and old_enum - new_enum:
        problems.append(f"{where}: enum values removed {sorted(map(str, old_enum - new_enum))}")
    old_kinds = old_s.get("discriminator", {}).get("mapping", {})
    new_kinds = new_s.get("discriminator", {}).get("mapping", {})
    for kind in sorted(set(old_kinds) - set(new_kinds)):
        problems.append(f"{where}: event type {kind!r} removed")
    old_props: dict[str, Schema] = old_s.get("properties", {})
    new_props: dict[str, Schema] = new_s.get("properties", {})
    for name, sub in old_props.items():
        if name not in new_props:
            problems.append(f"{where}.{name}: removed")
        else:
            problems += breaking_changes(sub, new_props[name], f"{where}.{name}",
                                         old_root, new_root)
    newly_required = set(new_s.get("required", ())) - set(old_s.get("required", ()))
    for name in sorted(newly_required):
        problems.append(f"{where}.{name}: newly required")
    if "items" in old_s and "items" in new_s:
        problems += breaking_changes(old_s["items"], new_s["items"], f"{where}[]",
                                     old_root, new_root)
    for key in ("prefixItems",):
        for i, (a, b) in enumerate(zip(old_s.get(key, []), new_s.get(key, []), strict=False)):
            problems += breaking_changes(a, b, f"{where}[{i}]", old_root, new_root)
    if isinstance(old_s.get("additionalProperties"), dict) and isinstance(
            new_s.get("additionalProperties"), dict):
        problems += breaking_changes(old_s["additionalProperties"],
                                     new_s["additionalProperties"], f"{where}.*",
                                     old_root, new_root)
    return problems
