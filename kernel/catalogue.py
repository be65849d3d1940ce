"""Loading the model catalogue file (YAML), with errors that name the line at fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kernel.errors import ConfigurationError
from schemas.catalogue import PROVIDERS, Catalogue

__all__ = ("load_catalogue", "parse_catalogue")


@dataclass
class _Lines:
    """1-based line numbers of the catalogue's parts, from the YAML node tree."""

    models: int = 1
    items: list[int] = field(default_factory=list)
    keys: list[dict[str, int]] = field(default_factory=list)

    def of(self, index: int, key: str | None = None) -> int:
        if index >= len(self.items):
            return self.models
        if key is not None and key in self.keys[index]:
            return self.keys[index][key]
        return self.items[index]


def _lines(text: str) -> _Lines:
    lines = _Lines()
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if key.value != "models":
            continue
        lines.models = key.start_mark.line + 1
        if isinstance(value, yaml.SequenceNode):
            for item in value.value:
                lines.items.append(item.start_mark.line + 1)
                keys = {}
                if isinstance(item, yaml.MappingNode):
                    keys = {k.value: k.start_mark.line + 1 for k, _ in item.value}
                lines.keys.append(keys)
    return lines


def _name_at(data: Any, index: int) -> str:
    try:
        return f"model {data['models'][index]['name']!r}"
    except (KeyError, IndexError, TypeError):
        return f"model #{index + 1}"


def _explain(where: str, data: Any, lines: _Lines, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        loc = err.get("loc", ())
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            index, key = loc[1], (str(loc[2]) if len(loc) > 2 else None)
            line = lines.of(index, key)
            who = _name_at(data, index)
            if key == "provider" and err["type"] == "literal_error":
                msg = (f"unknown provider {err.get('input')!r}; choose from "
                       f"{', '.join(PROVIDERS)}")
            elif err["type"] == "extra_forbidden" and key in ("api_key", "base_url", "key"):
                msg = f"`{key}` does not belong in the catalogue: keys and base URLs " \
                      "come from settings (OPENAI_API_KEY, ENDPOINTS, ...)"
            elif key is not None and err["type"] != "value_error":
                msg = f"{key}: {err['msg']}"
            else:
                msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}, line {line}: {who}: {msg}")
        else:
            what = ".".join(str(part) for part in loc) or "catalogue"
            problems.append(f"{where}, line {lines.models}: {what}: {err['msg']}")
    return "invalid model catalogue:\n  " + "\n  ".join(problems)


def _check_graph(where: str, catalogue: Catalogue, lines: _Lines) -> None:
    index: dict[str, int] = {}
    for i, m in enumerate(catalogue.models):
        index.setdefault(m.name, i)
        if index[m.name] != i:
            raise ConfigurationError(
                f"{where}, line {lines.of(i, 'name')}: model {m.name!r} is defined twice")
    for i, m in enumerate(catalogue.models):
        for fb in m.fallbacks:
            if fb not in index:
                raise ConfigurationError(
                    f"{where}, line {lines.of(i, 'fallbacks')}: model {m.name!r} falls "
                    f"back to unknown model {fb!r}")
    # A depth-first walk; a fallback reached again while still on the path is a cycle.
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in done:
            return
        if name in path:
            cycle = [*path[path.index(name):], name]
            closer = index[path[-1]]
            raise ConfigurationError(
                f"{where}, line {lines.of(closer, 'fallbacks')}: fallbacks form a cycle: "
                + " -> ".join(cycle))
        for fb in catalogue.models[index[name]].fallbacks:
            visit(fb, [*path, name])
        done.add(name)

    for m in catalogue.models:
        visit(m.name, [])


def parse_catalogue(text: str, where: str = "catalogue") -> Catalogue:
    try:
        data = yaml.safe_load(text)
        lines = _lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigurationError(f"{where}{at}: not valid YAML: {exc}") from exc
    try:
        catalogue = Catalogue.model_validate(data)
    except ValidationError as exc:
        # Not chained: pydantic's own text quotes the input, which could hold a key.
        raise ConfigurationError(_explain(where, data, lines, exc)) from None
    _check_graph(where, catalogue, lines)
    return catalogue


def load_catalogue(path: Path | None) -> Catalogue:
    if path is None:
        text = resources.files("kernel").joinpath("models.yaml").read_text()
        return parse_catalogue(text, "the shipped catalogue")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigurationError(f"cannot read model catalogue {path}: {exc}") from exc
    return parse_catalogue(text, str(path))
