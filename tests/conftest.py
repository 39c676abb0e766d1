"""Shared fixtures: the real corpus (when present), seed files, and stores built from them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TOPICS_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "seed" / "000_f2665b9705386261.txt"
CONF_0112 = SEEDS / "mananeras" / "2026" / (
    "2026-01-12__version-estenografica-conferencia-de-prensa-de-la-presidenta-claudia-sheinbaum-pardo-"
    "del-12-de-enero-de-2026.txt")
CHROMIUM = Path("/usr/bin/chromium")


def need_corpus() -> Path:
    """The shared corpus, or a skip with one line of reason (a failure in CI, which must have it)."""
    if (CORPUS / "mananeras").is_dir() and (CORPUS / "whitehouse").is_dir():
        return CORPUS
    if os.environ.get("TOPICS_REQUIRE_CORPUS"):
        pytest.fail(f"TOPICS_REQUIRE_CORPUS is set but the corpus is missing at {CORPUS}")
    pytest.skip(f"needs the full corpus at {CORPUS} (not shipped with the project)")


def need_browser() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("TOPICS_REQUIRE_BROWSER"):
        pytest.fail("TOPICS_REQUIRE_BROWSER is set but /usr/bin/chromium is missing")
    pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, input: str | None = None
            ) -> subprocess.CompletedProcess:
    """Run `python -m pipeline ...` as a user would."""
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=e, capture_output=True,
                          text=True, input=input, timeout=1800)


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory) -> Path:
    """A store filled from everything in seeds/ (the demo data), built once per test session."""
    store = tmp_path_factory.mktemp("seedstore") / "store"
    r = run_cli("run", "--input", str(SEEDS), "--store", str(store), "--no-snapshots")
    assert r.returncode == 0, r.stderr + r.stdout
    return store


@pytest.fixture()
def seed_store_copy(seed_store, tmp_path) -> Path:
    """A private copy of the seed store that a test may change."""
    dst = tmp_path / "store"
    shutil.copytree(seed_store, dst)
    return dst


@pytest.fixture(scope="session")
def dashboard_server(seed_store, tmp_path_factory):
    """The real dashboard, served by Streamlit on a free localhost port."""
    from dashboard.bench import serve

    with serve(seed_store, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url
