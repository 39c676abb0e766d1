"""Shared fixtures: the real corpus (when present), seed files, and stores built from them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import shared_dir

ROOT = Path(__file__).resolve().parent.parent
SHARED = shared_dir()  # $TOPICS_SHARED, else ../shared
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


def need_kernel() -> None:
    """The tagger's compiled loops, built if they are not; a skip with the reason on a machine without
    a C compiler (a failure in CI, which has one: TOPICS_REQUIRE_KERNEL)."""
    from pipeline.tagger import kernel

    try:
        kernel.build()
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("TOPICS_REQUIRE_KERNEL"):
            pytest.fail(f"TOPICS_REQUIRE_KERNEL is set but the tagger's C loops could not be built: {exc}")
        pytest.skip(f"needs a C compiler to build the tagger's C loops ({exc})")
    kernel._library.cache_clear()
    assert kernel.library() is not None, "the library was built but does not load"


def browser_ports() -> str:
    """``TOPICS_TEST_PORTS`` (``8630-8639``): the port range browser tests serve the dashboard on
    (empty: any free port)."""
    return os.environ.get("TOPICS_TEST_PORTS", "")


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


def built_store(tmp_path_factory, name: str, *inputs: Path) -> Path:
    """A new store (no snapshots) filled by `run` from ``inputs``; the run must succeed."""
    store = tmp_path_factory.mktemp(name) / "store"
    r = run_cli("run", "--input", *map(str, inputs), "--store", str(store), "--no-snapshots")
    assert r.returncode == 0, r.stderr + r.stdout
    return store


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory) -> Path:
    """A store filled from everything in seeds/ (the demo data), built once per test session."""
    return built_store(tmp_path_factory, "seedstore", SEEDS)


@pytest.fixture()
def seed_store_copy(seed_store, tmp_path) -> Path:
    """A private copy of the seed store that a test may change."""
    dst = tmp_path / "store"
    shutil.copytree(seed_store, dst)
    return dst


@pytest.fixture(scope="session")
def dashboard_server(seed_store, tmp_path_factory):
    """The real dashboard, served by Streamlit on a free localhost port."""
    from dashboard.browser import serve

    with serve(seed_store, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@pytest.fixture()
def page():
    """A page of Debian's Chromium driven by Playwright, 1400 x 1000 (skips, or fails when the
    browser is required, without Chromium)."""
    exe = need_browser()
    from playwright.sync_api import sync_playwright

    from dashboard.browser import BROWSER_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(exe), args=BROWSER_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


@pytest.fixture()
def app(seed_store, monkeypatch):
    """The dashboard on the seed store, under AppTest."""
    from streamlit.testing.v1 import AppTest

    from dashboard import data

    monkeypatch.setenv("TOPICS_STORE", str(seed_store))
    data.facets.clear()
    return AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)


@pytest.fixture()
def media(monkeypatch) -> list:
    """The media storage of every AppTest run (where download buttons keep their data): AppTest
    drops its runtime after a run, so the storage is kept here."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    kept: list = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            kept.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Kept)
    return kept



# Memory a pipeline process may map in the hardening tests: a normal run needs well under 1 GB, so a
# regression that reads /dev/zero or tags a 40 MB token fails fast instead of taking the machine.
RUN_MEMORY = 2 * 1024**3


def _drop_permission_override() -> None:
    """In the child, before exec: give up root's power to ignore permission bits (the capabilities
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so that an unreadable folder is unreadable to the
    run as it would be to a user. Nothing to give up when not root."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH; 24 = PR_CAPBSET_DROP
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_bounded(*args: str, timeout: float = 120, as_user: bool = False, env: dict | None = None
                ) -> subprocess.CompletedProcess:
    """`python -m pipeline ...` under a time and memory limit (``as_user``: without root's permission
    override); output decoded leniently (a file name that is not UTF-8 must not crash the test
    itself). A hang fails the test, naming the limit."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (RUN_MEMORY, RUN_MEMORY))
        if as_user:
            _drop_permission_override()

    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    try:
        r = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=e, capture_output=True,
                           timeout=timeout, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`python -m pipeline {' '.join(args)}` did not finish within {timeout} s")
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory) -> Path:
    """A store filled from the synthetic corpus with known spikes and a known lead (tests/synthetic_corpus.py)."""
    from tests import synthetic_corpus

    folder = synthetic_corpus.write(tmp_path_factory.mktemp("synthetic") / "corpus")
    store = folder.parent / "store"
    r = run_cli("run", "--input", str(folder), "--store", str(store), "--no-snapshots")
    assert r.returncode == 0, r.stderr + r.stdout
    return store
