"""Killed runs, concurrent readers, and large or odd inputs: the store stays whole."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import queries, store
from tests.conftest import CONF_0112, ROOT, SEED_FILE, SEEDS, run_bounded, run_cli


def _inbox(tmp_path: Path, n: int) -> Path:
    inbox = tmp_path / "in"
    inbox.mkdir()
    files = sorted((SEEDS / "mananeras").rglob("*.txt"))[:n]
    for f in files:
        shutil.copy(f, inbox / f.name)
    return inbox


def _check_whole(db: Path) -> int:
    """Every stored document has all its statements, once; the search index matches."""
    with sqlite3.connect(db) as c:
        bad = c.execute("SELECT d.doc_id FROM documents d LEFT JOIN (SELECT doc_id, COUNT(*) n FROM statements "
                        "GROUP BY doc_id) s ON s.doc_id = d.doc_id WHERE COALESCE(s.n, 0) != d.n_statements").fetchall()
        assert bad == [], f"half-written documents: {bad}"
        orphans = c.execute("SELECT COUNT(*) FROM statements WHERE doc_id NOT IN (SELECT doc_id FROM documents)")
        assert orphans.fetchone()[0] == 0
        n = c.execute("SELECT COUNT(*) FROM statements").fetchone()[0]
        assert c.execute("SELECT COUNT(*) FROM statements_fts").fetchone()[0] == n
        facets = "day, source, lang, role, topic_mask"
        assert c.execute(f"SELECT {facets}, COUNT(*) FROM statements GROUP BY {facets}").fetchall() == \
            c.execute(f"SELECT {facets}, n FROM daily ORDER BY {facets}").fetchall(), "daily counts drifted"
        assert c.execute("SELECT speaker, COUNT(*) FROM statements WHERE speaker != '' GROUP BY speaker").fetchall() \
            == c.execute("SELECT speaker, n FROM speakers ORDER BY speaker").fetchall(), "speaker counts drifted"
        files = c.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        docs = c.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        assert files == docs
        return n


def test_sigkill_at_many_moments_never_leaves_half_a_document(tmp_path):
    inbox = _inbox(tmp_path, 40)
    ref = tmp_path / "ref"
    assert run_cli("run", "--input", str(inbox), "--store", str(ref), "--workers", "1").returncode == 0
    expected = _count(ref)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = random.Random(3)
    kills_mid_run = 0
    for attempt in range(10):
        st_dir = tmp_path / f"store{attempt}"
        if attempt % 2:
            # Half the time the store already holds part of the work from an earlier run.
            # A consistent copy through SQLite's backup (a file copy can race a -wal/-shm file that a
            # closing connection removes).
            st_dir.mkdir()
            src, dst = sqlite3.connect(store.db_path(ref)), sqlite3.connect(store.db_path(st_dir))
            src.backup(dst)
            src.close()
            dst.close()
            with sqlite3.connect(store.db_path(st_dir)) as c:
                c.execute("DELETE FROM statements WHERE doc_id IN (SELECT doc_id FROM documents WHERE rowid % 2 = 0)")
                c.execute("DELETE FROM files WHERE file_hash IN (SELECT file_hash FROM documents WHERE rowid % 2 = 0)")
                c.execute("DELETE FROM documents WHERE rowid % 2 = 0")
            conn = store.open_store(st_dir)
            store.rebuild_daily(conn)  # the rows above were removed behind the store's back
            conn.close()
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--input", str(inbox), "--store",
                                 str(st_dir), "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # Kills land at random moments of reading, committing batches, re-tagging, snapshots and the
        # final bookkeeping; some during start-up.
        if attempt == 4:
            time.sleep(0.5)
        else:
            _wait_running(st_dir, proc)
            time.sleep(rng.uniform(0.0, 2.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills_mid_run += attempt != 4
        proc.wait()
        if store.db_path(st_dir).exists():
            _check_whole(store.db_path(st_dir))
        # The next run completes the work: the same statements as an uninterrupted run.
        r = run_cli("run", "--input", str(inbox), "--store", str(st_dir))
        assert r.returncode == 0, r.stderr
        assert _check_whole(store.db_path(st_dir)) == expected
        with sqlite3.connect(store.db_path(st_dir)) as c:
            assert c.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0
    assert kills_mid_run >= 4


def _wait_running(st_dir: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the run has registered itself in the store (or ended)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(f"file:{store.db_path(st_dir)}?mode=ro", uri=True) as c:
                if c.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone():
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.05)


def _count(st_dir: Path) -> int:
    with sqlite3.connect(store.db_path(st_dir)) as c:
        return c.execute("SELECT COUNT(*) FROM statements").fetchone()[0]


def test_readers_see_whole_states_while_a_run_writes(tmp_path):
    inbox = _inbox(tmp_path, 10)
    st_dir = tmp_path / "store"
    first = inbox / "first"
    first.mkdir()
    shutil.move(str(next(inbox.glob("*.txt"))), first)
    assert run_cli("run", "--input", str(first), "--store", str(st_dir)).returncode == 0
    seen: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                conn = store.open_readonly(st_dir)
                conn.isolation_level = None
                conn.execute("BEGIN")  # one read transaction: one committed state
                weekly = queries.trend(conn, queries.Filters(), "week")
                total = int(weekly.drop_duplicates("period")["total"].sum())
                docs = conn.execute("SELECT SUM(n_statements) FROM documents").fetchone()[0]
                n = conn.execute("SELECT COUNT(*) FROM statements").fetchone()[0]
                conn.execute("COMMIT")
                conn.close()
                if total != n:
                    errors.append(f"chart total {total} != {n} statements")
                if n != docs:
                    errors.append(f"saw {n} statements but documents promise {docs}")
                seen.append(total)
            except Exception as exc:  # noqa: BLE001 - any error here is a failure
                errors.append(repr(exc))
            time.sleep(0.05)

    t = threading.Thread(target=reader)
    t.start()
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir))
    stop.set()
    t.join()
    assert r.returncode == 0, r.stderr
    assert errors == []
    assert len(seen) > 5
    assert seen == sorted(seen)  # never a step back, never a partial document
    assert seen[-1] == _count(st_dir)


def test_a_large_file_is_refused_with_its_size(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:
        fh.write(b"MONDAY, JANUARY 12, 2026\n")
        line = b"We talked about trade and security with our neighbours. " * 20 + b"\n"
        while fh.tell() < 100 * 1024 * 1024:
            fh.write(line)
    r = run_cli("run", "--input", str(big), "--store", str(tmp_path / "s"), "--no-snapshots")
    assert r.returncode == 3
    assert "over the 50 MB limit" in r.stdout


def test_thousands_of_files_in_nested_folders(tmp_path):
    root = tmp_path / "many"
    for i in range(1500):
        d = root / f"y{i % 3}" / f"m{i % 12}"
        d.mkdir(parents=True, exist_ok=True)
        day = 1 + i % 28
        (d / f"{i}.txt").write_text(f"2025-02-{day:02d}\nStatement number {i} about tariffs on steel.\n")
    r = run_cli("run", "--input", str(root), "--store", str(tmp_path / "s"), "--no-snapshots", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["files_new"] == 1500 and s["statements_added"] == 1500


@pytest.mark.parametrize("name,data", [
    ("future.txt", b"MONDAY, JANUARY 12, 2099\nA paragraph.\n"),
    ("page.txt", b"<html><body>Not a transcript</body></html>"),
    ("bad-utf8.txt", b"MONDAY, JANUARY 12, 2026\nCaf\x81\x8d\x8f\x90 \x9d\n"),
])
def test_each_refusal_names_the_file(tmp_path, name, data):
    f = tmp_path / name
    f.write_bytes(data)
    r = run_cli("run", "--input", str(f), "--store", str(tmp_path / "s"), "--no-snapshots")
    assert r.returncode == 3 and name in r.stdout


def test_the_dashboard_keeps_working_while_a_run_writes(seed_store_copy, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TOPICS_STORE", str(seed_store_copy))
    inbox = tmp_path / "more"
    inbox.mkdir()
    # The same conferences under new dates: new documents for the run to write.
    for i, f in enumerate(sorted((SEEDS / "mananeras" / "2025").glob("*.txt"))[:60]):
        text = f.read_text(encoding="utf-8")
        (inbox / f"{i}.txt").write_text(text.replace(" de 2025", " de 2024"), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--input", str(inbox), "--store",
                             str(seed_store_copy), "--no-snapshots"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    renders = 0
    try:
        while proc.poll() is None or renders < 2:
            at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60).run()
            assert not at.exception, at.exception
            assert not at.error, [e.value for e in at.error]
            assert at.title[0].value == "Topics over time"
            renders += 1
    finally:
        proc.wait()
    assert proc.returncode == 0, proc.stderr.read()
    assert renders >= 2
    # After the run commits, the new documents are in what the dashboard reads.
    conn = store.open_readonly(seed_store_copy)
    assert queries.facets(conn)["date_min"].year == 2024


def test_a_folder_of_every_hostile_kind_is_refused_or_noted_file_by_file(tmp_path):
    """Issue #12, all at once beside good real files: each bad input is refused or noted with its
    reason, every good one is stored, and the run ends within two minutes and 2 GB."""
    inbox = tmp_path / "hostile"
    inbox.mkdir()
    whitehouse = sorted((SEEDS / "whitehouse").rglob("*.md"))[0]
    good = [SEED_FILE, CONF_0112, whitehouse]
    for f in good:
        shutil.copy(f, inbox / f.name)
    spanish = ("2026-01-13\nLa soberanía de México no se negocia, dijo la presidenta.\n"
               "Hablamos de migración, aranceles y seguridad en la región.\n")
    with open(os.path.join(os.fsencode(inbox), b"nombre-\xe9.txt"), "wb") as fh:  # not UTF-8
        fh.write(spanish.replace("2026-01-13", "2026-01-14").encode())
    os.mkfifo(inbox / "fifo.txt")
    os.symlink("/dev/zero", inbox / "zero.txt")
    with open(inbox / "sparse.txt", "wb") as fh:
        fh.truncate(4 * 1024**3)
    (inbox / "mixed.txt").write_bytes(spanish.encode().replace(b"dijo", b"di\xffjo"))
    (inbox / "deep.jsonl").write_text('{"date": "2026-01-12", "text": "Hablamos de aranceles."}\n'
                                      + "[" * 100_000 + "\n")
    (inbox / "big.csv").write_text("date,text\n2026-01-12,Y de migración.\n2026-01-12," + "y" * 200_000 + "\n")
    (inbox / "token.txt").write_text("2026-01-15\n" + "x" * 40_000_000 + "\nWe spoke about steel.\n")
    (inbox / "locked").mkdir()
    shutil.copy(SEED_FILE, inbox / "locked" / "hidden-away.txt")
    (inbox / "locked").chmod(0)
    (inbox / "\x1b[31mred.txt").write_text("no date here\njust words\n")
    (inbox / "feb31.txt").write_text("FEBRUARY 31, 2026\nA paragraph.\n")
    st_dir = tmp_path / "store"
    try:
        r = run_bounded("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", as_user=True,
                        timeout=120)
    finally:
        (inbox / "locked").chmod(0o755)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "\x1b" not in r.stdout and "\\x1b[31mred.txt: unknown format" in r.stdout
    db = store.db_path(st_dir)
    with sqlite3.connect(db) as c:
        refused = {(Path(p).name, line): reason
                   for p, line, reason in c.execute("SELECT path, line, reason FROM refusals")}
        accented = c.execute("SELECT COUNT(*) FROM statements WHERE text LIKE 'La soberanía de México%'").fetchone()
        mojibake = c.execute("SELECT COUNT(*) FROM statements WHERE text LIKE '%Ã%'").fetchone()
        notes = {Path(p).name: note for p, note in c.execute("SELECT path, note FROM notes")}
        stored = {Path(p).name for (p,) in c.execute("SELECT path FROM files")}
        (status,) = c.execute("SELECT status FROM runs").fetchone()
    expected_refusals = {
        ("fifo.txt", None): "not a regular file (FIFO)",
        ("zero.txt", None): "not a regular file (character device)",
        ("sparse.txt", None): "file is 4096 MB, over the 50 MB limit",
        ("deep.jsonl", 2): "JSON nested too deeply",
        ("big.csv", 3): "CSV record not read (field larger than field limit",
        ("locked", None): "cannot list folder: Permission denied",
        ("\x1b[31mred.txt", None): "unknown format",
        ("feb31.txt", None): "not a date: FEBRUARY 31, 2026",
    }
    assert set(refused) == set(expected_refusals)
    for key, reason in expected_refusals.items():
        assert refused[key].startswith(reason), (key, refused[key])
    assert notes == {
        "mixed.txt": "not valid UTF-8 in 1 byte, read as UTF-8 with that byte replaced by \ufffd",
        "token.txt": "paragraph 1 cut from 40,000,000 to 20,000 characters (the limit for one statement)",
    }
    assert stored == {f.name for f in good} | {"nombre-\\xe9.txt", "mixed.txt", "deep.jsonl", "big.csv", "token.txt"}
    assert status == "refused files"
    assert accented == (2,) and mojibake == (0,)  # the unnamed file and the one with a bad byte
    assert _check_whole(db) > 0
