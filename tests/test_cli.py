"""The command line as a user types it: help, one-line errors instead of tracebacks, pipes closed
early, and options checked before any work. Real files, real subprocess runs."""

from __future__ import annotations

import argparse

import pytest

from pipeline.cli import build_parser
from tests.conftest import run_cli


def _commands() -> list[tuple[str, ...]]:
    """Every command and sub-command of the parser, as argument prefixes."""
    out: list[tuple[str, ...]] = [()]

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out.append((*prefix, name))
                    walk(sub, (*prefix, name))

    walk(build_parser(), ())
    return out


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "(main)")
def test_help_of_every_command_prints_and_exits_0(command):
    r = run_cli(*command, "--help")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "usage:" in r.stdout
