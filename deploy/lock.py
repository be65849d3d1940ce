"""Write requirements.lock: every distribution pyproject.toml needs (with the dev extra),
directly or through another, pinned at the version installed in this environment.

    make lock        # after adding or changing a dependency in pyproject.toml

`make install` installs with the lock as constraints, so a fresh clone gets the versions
the suite last passed with; a dependency the lock does not know yet is still installed
(unpinned) and tests/test_lock.py says to run `make lock`.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("dev",)
HEADER = "# Made by `make lock` (deploy/lock.py) from the environment the suite passed in.\n"

__all__ = ("closure", "declared", "main", "normalize")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """The requirements of pyproject.toml, with those of ``EXTRAS``."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(line) for line in lines]


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Installed name -> version of ``roots`` and everything they require."""
    found: dict[str, str] = {}
    todo = [(r, frozenset(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, extras = todo.pop()
        key = (normalize(req.name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{req.name} is not installed: run `make install` first") from None
        found[normalize(dist.metadata["Name"])] = dist.version
        for line in dist.requires or ():
            sub = Requirement(line)
            env = [{"extra": e} for e in extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(e) for e in env):
                todo.append((sub, frozenset(sub.extras)))
    found.pop("chatstream", None)
    return found


def main() -> None:
    pins = closure(declared())
    sys.stdout.write(HEADER + "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))


if __name__ == "__main__":
    main()
