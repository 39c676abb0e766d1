"""The tagger's compiled loops (pipeline/tagger/kernel.py): only a library built from the current
source is loaded, a machine without a compiler tags on the NumPy path with a note, and a run gives
the same store either way. (That both paths give the same scores bit for bit is held in
tests/test_fast_paths.py, where every scoring test runs on both.)"""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from pipeline.tagger import kernel, load_model
from tests.conftest import SEEDS, need_kernel, run_cli


@pytest.fixture()
def other_source(tmp_path, monkeypatch):
    """The module pointed at a copy of the source that differs by a comment (another version)."""
    src = tmp_path / "_kernel.c"
    src.write_bytes(kernel.SOURCE.read_bytes() + b"\n/* another version */\n")
    monkeypatch.setattr(kernel, "SOURCE", src)
    kernel._library.cache_clear()
    yield src
    kernel._library.cache_clear()


def test_a_library_of_another_source_or_a_damaged_one_is_not_loaded(other_source, monkeypatch):
    monkeypatch.setenv("TOPICS_KERNEL", "1")
    kernel._library.cache_clear()
    assert not kernel.library_path().exists()  # the library built from the shipped source is not this one's
    assert kernel.library() is None
    kernel.library_path().write_bytes(b"\x7fELF not really a library")
    kernel._library.cache_clear()
    assert kernel.library() is None


def test_build_names_the_library_after_its_source_and_removes_older_ones(other_source):
    stale = other_source.with_name("_kernel-000000000000.so")
    stale.write_bytes(b"old")
    need_kernel()  # builds it
    path = kernel.library_path()
    assert path.exists() and path.name.startswith("_kernel-") and path.parent == other_source.parent
    assert not stale.exists()
    kernel._library.cache_clear()
    lib = kernel._library()
    assert lib is not None and lib.tk_version() == kernel.VERSION


def test_no_compiler_means_a_note_and_the_numpy_path(other_source, monkeypatch, capsys):
    monkeypatch.setenv("CC", "/bin/false")
    assert kernel.main([]) == 0
    err = capsys.readouterr().err
    assert "not built" in err and "NumPy path" in err
    assert not kernel.library_path().exists()
    monkeypatch.setenv("TOPICS_KERNEL", "1")
    assert kernel.library() is None
    texts = ["La seguridad en la frontera norte", "Tariffs on steel imports", ""]
    scores = load_model().scores_matrix(texts)
    assert scores.shape == (3, len(load_model().topics))


def test_a_run_stores_the_same_rows_on_either_path(tmp_path):
    """The seeds through `run` with the compiled loops and without: every stored score and tag agree."""
    need_kernel()
    stores = {}
    for flag in ("0", "1"):
        store = tmp_path / f"store{flag}"
        shutil.copytree(SEEDS, tmp_path / f"in{flag}")
        r = run_cli("run", "--input", str(tmp_path / f"in{flag}"), "--store", str(store), "--no-snapshots",
                    env={"TOPICS_KERNEL": flag})
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(store / "tracker.db") as conn:
            stores[flag] = conn.execute("SELECT statement_id, topic_mask, scores FROM statements "
                                        "ORDER BY statement_id").fetchall()
    assert len(stores["1"]) > 10000
    assert stores["0"] == stores["1"]
    masks = np.array([m for _, m, _ in stores["1"]])
    assert (masks > 0).sum() > 1000  # statements were tagged, not all left empty
