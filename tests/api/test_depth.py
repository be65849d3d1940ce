"""The JSON depth scan agrees with JSON's own reading of a body, whatever slices it is fed
in: exactly on valid JSON, and never lower than a parser would go on anything else."""

from __future__ import annotations

import json
import random
from typing import Any

from api.guards.depth import DepthScan, json_too_deep


def _parser_depth(body: bytes) -> int:
    """How deep a parser reading ``body`` goes before it stops (at the end, or at the
    first byte that cannot be JSON here: a close with nothing open, a backslash outside
    a string)."""
    depth = deepest = 0
    inside = escaped = False
    for c in body:
        if inside:
            if escaped:
                escaped = False
            elif c == ord("\\"):
                escaped = True
            elif c == ord('"'):
                inside = False
        elif c == ord("\\"):
            break
        elif c == ord('"'):
            inside = True
        elif c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in b"]}":
            depth -= 1
            if depth < 0:
                break
    return deepest


def _scan(body: bytes, limit: int, rng: random.Random) -> bool:
    scan = DepthScan(limit)
    i = 0
    while i < len(body):
        n = rng.randint(1, 9)
        if scan.feed(body[i:i + n]):
            return True
        i += n
    return False


def _document(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 8 or roll < 0.3:
        return rng.choice([1, None, "a", '\\"[{', "x\\\\", "]", "\\"])
    if roll < 0.65:
        return [_document(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["k", "[", '"{', "\\"]) + str(i): _document(rng, depth + 1)
            for i in range(rng.randint(0, 3))}


def _nesting(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    return 0


def test_valid_json_is_measured_exactly_in_any_slices() -> None:
    rng = random.Random(1)
    for _ in range(300):
        value = _document(rng)
        body = json.dumps(value).encode()
        for limit in range(8):
            assert _scan(body, limit, rng) == (_nesting(value) > limit), (body, limit)


def test_no_body_is_measured_shallower_than_a_parser_reads_it() -> None:
    rng = random.Random(2)
    alphabet = [b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b","]
    for _ in range(1500):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        for limit in (1, 2, 4):
            if _parser_depth(body) > limit:
                assert _scan(body, limit, rng), (body, limit)


def test_hostile_shapes() -> None:
    assert json_too_deep(b"[" * 65 + b'"' + b'\\"' * 100_000)
    assert not json_too_deep(b'"' + b'\\"' * 100_000 + b'"')
    assert not json_too_deep(b'["' + b"[" * 10_000 + b'"]')  # brackets inside a string
    assert json_too_deep(b'["\\\\"' + b"[" * 65)  # an escaped backslash ends the string
    assert not json_too_deep(b'["\\"' + b"[" * 65)  # an escaped quote does not
    assert not json_too_deep(b"[]" * 100_000)
    assert json_too_deep(b"[" * 65 + b"]" * 65)
    assert not json_too_deep(b"[" * 64 + b"]" * 64)
