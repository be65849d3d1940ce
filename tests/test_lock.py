"""requirements.lock pins every dependency pyproject.toml declares, within its bounds,
and everything those need; `make install` installs with it as constraints."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock", ROOT / "deploy" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, str]:
    lock = _lock_module()
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[lock.normalize(name)] = version.strip()
    return pins


def test_the_lock_pins_every_declared_dependency_within_its_bounds() -> None:
    lock, pins = _lock_module(), _pins()
    missing = [str(r) for r in lock.declared() if lock.normalize(r.name) not in pins]
    assert not missing, f"not in requirements.lock, run `make lock`: {missing}"
    outside = [f"{r} (locked {pins[lock.normalize(r.name)]})" for r in lock.declared()
               if not r.specifier.contains(pins[lock.normalize(r.name)], prereleases=True)]
    assert not outside, f"pyproject.toml and requirements.lock disagree: {outside}"


def test_the_lock_covers_what_the_dependencies_need() -> None:
    lock, pins = _lock_module(), _pins()
    missing = sorted(set(lock.closure(lock.declared())) - set(pins))
    assert not missing, f"installed but not locked, run `make lock`: {missing}"
