"""The command line as its users meet it: a version, help for every command and flag, and
a password that never goes through the command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

import pytest

from chatstream import cli


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatstream.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_version_names_the_installed_package() -> None:
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"chatstream {metadata.version('chatstream')}"


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_every_command_and_flag_has_help() -> None:
    missing = []
    for prog, parser in _parsers(cli._parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{prog} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    assert not missing


def test_bootstrap_takes_no_password_on_the_command_line() -> None:
    with pytest.raises(SystemExit) as exited:
        cli._parser().parse_args(["bootstrap", "--tenant", "acme", "--email", "a@b.c",
                                  "--password", "hunter2hunter2"])
    assert exited.value.code == 2
