"""The project's own rules, checked against its files: the README's settings table and the code's
settings say the same thing, its Layout names every module, pyproject.toml mirrors requirements.txt,
the layers import downward only, and SQL is spoken by the modules that own it."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from pipeline.settings import ROOT, SETTINGS
from tests.conftest import ROOT as TESTS_ROOT

README = TESTS_ROOT / "README.md"


def _settings_table() -> dict[str, dict[str, str]]:
    """The rows of the README's settings table, keyed by environment variable."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    out = {}
    for line in rows[2:]:  # past the header and its --- line
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        row = dict(zip(header, cells))
        out[row["variable"].strip("`")] = row
    return out


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def test_readme_settings_table_lists_every_setting_and_nothing_else():
    table = _settings_table()
    declared = {s.env: s for s in SETTINGS.values()}
    assert sorted(table) == sorted(declared), (
        f"in the README only: {sorted(set(table) - set(declared))}; "
        f"in pipeline/settings.py only: {sorted(set(declared) - set(table))}")


def test_readme_settings_table_agrees_with_the_code():
    """Name, default and help of each setting as declared; the README may add sentences after the help."""
    for env, row in _settings_table().items():
        s = next(s for s in SETTINGS.values() if s.env == env)
        assert row["setting"].strip("`") == s.name, env
        default = row["default"].strip("`")
        code_default = s.default
        if code_default.startswith(str(ROOT)):  # shipped files: the README names them from the project folder
            code_default = code_default[len(str(ROOT)) + 1:]
        assert default == (code_default or "(empty)"), env
        assert _plain(row["meaning"]).startswith(s.help), f"{env}: README says {row['meaning']!r}, code {s.help!r}"


def test_every_variable_the_code_reads_is_a_declared_setting():
    """A TOPICS_* variable read anywhere in the project's code is declared in pipeline/settings.py
    (and so listed by `python -m pipeline settings` and, by the tests above, in the README)."""
    declared = {s.env for s in SETTINGS.values()}
    found: dict[str, set[str]] = {}
    for folder in ("pipeline", "dashboard", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in re.findall(r"TOPICS_[A-Z_]+", path.read_text(encoding="utf-8")):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    undeclared = {name: sorted(paths) for name, paths in found.items() if name not in declared}
    assert not undeclared, f"read but not declared as settings: {undeclared}"


def _leaf_commands(parser, prefix=()):
    """(command words, parser) of every command that takes options (labels export, labels queue...)."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    yield from _leaf_commands(sub, (*prefix, name))
                else:
                    yield " ".join((*prefix, name)), sub


def test_readme_commands_table_names_every_option():
    """Each option `--help` shows is in the README's row (or rows) of its command."""
    from pipeline.cli import build_parser

    text = README.read_text(encoding="utf-8")
    rows = [line for line in text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0].splitlines()
            if line.startswith("| `")]
    missing = {}
    for command, parser in _leaf_commands(build_parser()):
        mine = " ".join(r for r in rows if re.match(r"\| `" + re.escape(command) + r"[ `]", r))
        assert mine, f"no README row for {command}"
        lost = [a.option_strings[-1] for a in parser._actions if a.option_strings and "--help" not in a.option_strings
                and not re.search(re.escape(a.option_strings[-1]) + r"(?![\w-])", mine)]
        if lost:
            missing[command] = lost
    assert not missing, f"options missing from the README's commands table: {missing}"


def _layout_misses(readme: str) -> list[str]:
    """The project's modules that the README's Layout block does not name. A module is named by its
    file name (``lock.py``) or, in bench/, its dotted name (``bench.coldrun``); a package's
    ``__init__.py`` by its folder (``readers/``), its ``__main__.py`` by ``python -m`` and the package."""
    layout = readme.split("\n## Layout\n", 1)[1].split("```", 2)[1]
    misses = []
    for top in ("pipeline", "dashboard", "bench"):
        for f in sorted((TESTS_ROOT / top).rglob("*.py")):
            package = f.parent.relative_to(TESTS_ROOT)
            if f.name == "__init__.py":
                names = [f"{package.name}/"]
            elif f.name == "__main__.py":
                names = [f"python -m {'.'.join(package.parts)}"]
            else:
                names = [f.name, f"{'.'.join(package.parts)}.{f.stem}"]
            if not any(re.search(re.escape(n) + r"(?![\w])", layout) for n in names):
                misses.append(str(f.relative_to(TESTS_ROOT)))
    return misses


def test_readme_layout_names_every_module():
    """The Layout block names every module of pipeline/, dashboard/ and bench/ (errors.py, lock.py,
    events.py, leadlag.py and four dashboard modules were missing from it)."""
    assert _layout_misses(README.read_text(encoding="utf-8")) == []


def _requirement_lines(text: str) -> list[str]:
    return sorted(x.split("#")[0].strip() for x in text.splitlines() if x.split("#")[0].strip())


def test_pyproject_mirrors_requirements_and_the_package_version():
    project = tomllib.loads((TESTS_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + [d for group in project["optional-dependencies"].values() for d in group]
    assert sorted(declared) == _requirement_lines((TESTS_ROOT / "requirements.txt").read_text(encoding="utf-8"))
    import pipeline

    assert project["version"] == pipeline.__version__


def test_ruff_settings_live_in_pyproject():
    assert not (TESTS_ROOT / "ruff.toml").exists()
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--show-settings", "pipeline/cli.py"],
                       cwd=TESTS_ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f'Settings path: "{TESTS_ROOT / "pyproject.toml"}"' in r.stdout


def _imports(package: str) -> dict[str, set[str]]:
    """module file -> the top-level packages it imports (anywhere in the file)."""
    out = {}
    for f in sorted((TESTS_ROOT / package).rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
        out[str(f.relative_to(TESTS_ROOT))] = found
    return out


def test_pipeline_never_imports_the_dashboard_or_the_benchmark():
    upward = {f: sorted(found & {"dashboard", "bench"}) for f, found in _imports("pipeline").items()}
    assert {f: x for f, x in upward.items() if x} == {}


def test_dashboard_never_imports_the_benchmark():
    assert {f: x for f, x in _imports("dashboard").items() if "bench" in x} == {}


# store.py owns the schema and every write (and the reads a run needs); queries.py holds every other
# read; labelling.py owns the label log's tables.
SQL_OWNERS = {"pipeline/store.py", "pipeline/queries.py", "pipeline/labelling.py"}
_SQL_CALL = re.compile(r"\.(execute|executemany|executescript)\(|sqlite3\.connect\(")


def test_only_the_store_and_the_queries_speak_sql():
    speakers = sorted(str(f.relative_to(TESTS_ROOT)) for pkg in ("pipeline", "dashboard", "bench")
                      for f in (TESTS_ROOT / pkg).rglob("*.py") if _SQL_CALL.search(f.read_text(encoding="utf-8")))
    assert sorted(set(speakers) - SQL_OWNERS) == []


def test_every_store_and_model_option_defaults_to_its_setting(monkeypatch):
    """As the README says: `--store` defaults to TOPICS_STORE and `--model` to TOPICS_MODEL everywhere
    (train's --output too, the model file it replaces)."""
    from pipeline.cli import build_parser

    monkeypatch.setenv("TOPICS_STORE", "/elsewhere/store")
    monkeypatch.setenv("TOPICS_MODEL", "/elsewhere/tagger.skops")
    checked = []
    for command, parser in _leaf_commands(build_parser()):
        for action in parser._actions:
            flag = action.option_strings[-1] if action.option_strings else ""
            if flag in ("--store", "--model") or (command == "train" and flag == "--output"):
                want = "/elsewhere/store" if flag == "--store" else "/elsewhere/tagger.skops"
                assert action.default == want, f"{command} {flag}: {action.default!r}"
                checked.append(f"{command} {flag}")
    assert "run --model" in checked and "trend --store" in checked and "labels queue --model" in checked


def _make_dry_run(*args: str, env: dict[str, str]) -> str:
    if not shutil.which("make"):
        pytest.skip("needs make")
    clean = {k: v for k, v in os.environ.items() if k not in ("STORE", "PORT", "TOPICS_STORE", "TOPICS_PORT")}
    r = subprocess.run(["make", "-n", *args], cwd=TESTS_ROOT, env=clean | env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_make_follows_the_store_and_port_settings():
    """`make pipeline` and `make dashboard` (so `make run`) use TOPICS_STORE and TOPICS_PORT when they
    are set, as every other way of starting the pipeline and the dashboard does; they used data/store
    and 8501 whatever the settings said. STORE= and PORT= still win, and the defaults stay."""
    out = _make_dry_run("pipeline", "dashboard", env={"TOPICS_STORE": "/elsewhere/store", "TOPICS_PORT": "9123"})
    assert "--store /elsewhere/store" in out and "TOPICS_STORE=/elsewhere/store TOPICS_PORT=9123 " in out, out
    out = _make_dry_run("pipeline", "dashboard", "STORE=/mine", "PORT=9200", env={"TOPICS_STORE": "/elsewhere/store"})
    assert "--store /mine" in out and "TOPICS_STORE=/mine TOPICS_PORT=9200 " in out, out
    out = _make_dry_run("pipeline", "dashboard", env={})
    assert "--store data/store" in out and "TOPICS_STORE=data/store TOPICS_PORT=8501 " in out, out
