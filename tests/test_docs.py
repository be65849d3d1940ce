"""The README stays true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_readme_table_and_nothing_else() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `CHATSTREAM_([A-Z_]+)` \|", readme, re.M))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
