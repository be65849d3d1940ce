"""Every exception chatstream raises on purpose is a ChatstreamError: one ``except`` (the
CLI's, a caller's) catches them all, and kernel/errors.py draws the whole tree."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "kernel", "streams", "stores", "agents", "api", "chatstream")
# What an exception class of ours may derive from outside our code.
FOREIGN = {"Exception", "BaseException", "ValueError", "RuntimeError", "HTTPException"}


def _exception_classes() -> dict[str, tuple[str, list[str]]]:
    """Class name -> (where, base names), for every class of ours."""
    found: dict[str, tuple[str, list[str]]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef):
                    bases = [b.id if isinstance(b, ast.Name) else
                             b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases]
                    found[node.name] = (f"{path.relative_to(ROOT)}:{node.lineno}", bases)
    return found


def test_every_public_exception_is_under_the_root() -> None:
    classes = _exception_classes()

    def reaches(name: str, goal: set[str], seen: frozenset[str] = frozenset()) -> bool:
        if name in goal:
            return True
        if name in seen or name not in classes:
            return False
        return any(reaches(b, goal, seen | {name}) for b in classes[name][1])

    exceptions = {n for n in classes if n != "ChatstreamError" and reaches(n, FOREIGN)}
    outside = sorted(f"{classes[n][0]} {n}" for n in exceptions
                     if not n.startswith("_") and not reaches(n, {"ChatstreamError"}))
    assert not outside, outside
    assert {"BadField", "DocumentTooLarge", "StreamError", "ApiError"} <= exceptions
