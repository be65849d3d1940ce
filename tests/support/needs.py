"""What a test needs beyond its own process, read from its code and its fixtures' code.

A test (or a fixture it uses, or a helper of tests/ or harness/ they call) that names a
real server's address, starts chatstream processes or a browser, or asks for the
language model gets that marker, so ``make check`` (``-m "not (kafka or …)"``) runs
exactly the tests that need nothing but the test process. Nobody marks a test by hand;
a new server helper is one line in :data:`NAMES`.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterable, Iterator

import pytest

__all__ = ("MARKERS", "SERVERS", "needs")

SERVERS = ("kafka", "cassandra", "weaviate")
MARKERS = {
    "kafka": "needs the real Kafka broker started by make services",
    "cassandra": "needs the real Cassandra started by make services",
    "weaviate": "needs the real Weaviate started by make services",
    "stack": "starts chatstream processes (a stack, an edge, a worker)",
    "browser": "drives Chromium",
    "llm": "runs the small language model (make llm)",
    "bench": "runs a benchmark script (seconds to minutes; some on the real servers)",
}

# A global name a test's code uses -> what it needs.
NAMES: dict[str, frozenset[str]] = {
    "KAFKA": frozenset({"kafka"}),
    "CASSANDRA": frozenset({"cassandra"}),
    "WEAVIATE": frozenset({"weaviate"}),
    "ChatstreamProcess": frozenset({"stack"}),
    "start_stack": frozenset({"stack"}),
    "launch": frozenset({"browser"}),
    "async_playwright": frozenset({"browser"}),
    "LlamaCppProvider": frozenset({"llm"}),
}
# Stack kinds on the real servers (tests/support/stacks.py), named in a test's code or
# its parameters; and the model only `make llm` installs.
_SERVER_KINDS = frozenset({"kafka", "split", "cluster"})
_KINDS = _SERVER_KINDS | {"embedded"}
_CONSTANTS = {"smollm2": frozenset({"llm"}), "chatstream.cli": frozenset({"stack"})}
# Folders whose every test needs something (the benchmark scripts run as subprocesses).
_FOLDERS = {"tests/bench/": frozenset({"bench"})}
# Helpers that start a stack say what it needs by its kind: not walked into (an
# embedded stack's code also holds the Kafka stack's addresses).
_LEAVES = frozenset({"start_stack"})
_OURS = ("tests.", "harness.", "bench.")


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _functions(obj: object) -> Iterator[types.FunctionType]:
    obj = inspect.unwrap(obj)  # type: ignore[arg-type]
    if isinstance(obj, types.FunctionType):
        yield obj
    elif isinstance(obj, type):
        for member in vars(obj).values():
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if isinstance(member, types.FunctionType):
                yield member


class _Walk:
    def __init__(self) -> None:
        self.found: set[str] = set()
        self.kinds: set[str] = set()
        self._seen: set[types.CodeType] = set()

    def function(self, fn: types.FunctionType) -> None:
        for code in _codes(fn.__code__):
            if code in self._seen:
                continue
            self._seen.add(code)
            for const in code.co_consts:
                if isinstance(const, str):
                    self.found |= _CONSTANTS.get(const, frozenset())
                    if const in _SERVER_KINDS:
                        self.kinds.add(const)
            for name in code.co_names:
                self.found |= NAMES.get(name, frozenset())
                if name in _LEAVES:
                    continue
                target = fn.__globals__.get(name)
                if getattr(target, "__module__", "").startswith(_OURS):
                    for inner in _functions(target):
                        self.function(inner)


def needs(item: pytest.Item, fixtures: Iterable[object]) -> set[str]:
    """The markers ``item`` needs, from its function and ``fixtures`` (theirs)."""
    walk = _Walk()
    for fn in (getattr(item, "function", None), *fixtures):
        for inner in _functions(fn) if fn is not None else ():
            walk.function(inner)
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    # A test run on each kind of stack needs what its own kind needs.
    named = {p for p in params if isinstance(p, str) and p in _KINDS}
    kinds = named & _SERVER_KINDS if named else walk.kinds
    if "stack" in walk.found and kinds:
        walk.found |= set(SERVERS)
    where = item.path.as_posix()
    for folder, markers in _FOLDERS.items():
        if f"/{folder}" in where:
            walk.found |= markers
    return walk.found
