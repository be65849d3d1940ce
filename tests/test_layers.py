"""The packages stack in layers; an import that points up a layer fails here.

schemas ← kernel ← streams, stores ← agents, api ← chatstream (the composition root).
Test doubles live in harness/ (shared by tests/ and bench/), which no shipped package
imports and pyproject does not package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Which of our packages each package may import (itself included).
ALLOWED = {
    "schemas": {"schemas"},
    "kernel": {"schemas", "kernel"},
    "streams": {"schemas", "kernel", "streams"},
    "stores": {"schemas", "kernel", "stores"},
    "agents": {"schemas", "kernel", "streams", "stores", "agents"},
    "api": {"schemas", "kernel", "streams", "stores", "api"},
    "chatstream": {"schemas", "kernel", "streams", "stores", "agents", "api", "chatstream"},
}
OURS = {*ALLOWED, "harness", "tests", "bench", "deploy"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if (bad := _imports(path) - ALLOWED[package])
    }
    assert not wrong, sorted(wrong)


def test_the_harness_is_not_shipped() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not [p for p in shipped if p.startswith(("harness", "tests", "bench"))]


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_routes_never_import_routes() -> None:
    """A route parses, calls and answers: what two routes share lives beside them (a
    concern's folder, api/shapes.py, api/deps.py), so each route reads on its own."""
    routes = ROOT / "api" / "routes"
    wrong = {f"{path.name} imports {sorted(bad)}" for path in sorted(routes.glob("*.py"))
             if (bad := {m for m in _modules(path) if m.startswith("api.routes")})}
    assert not wrong, sorted(wrong)
