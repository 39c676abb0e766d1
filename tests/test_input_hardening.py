"""Hostile inputs (issue #12): odd names, special and huge files, mixed encodings, deep or huge
records, unreadable folders and concurrent runs. Each is refused or noted with a reason naming the
file, the good files beside it are stored, and no run is left marked 'running'."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import store
from pipeline.errors import InputError
from pipeline.readers import detect, read_bytes
from tests.conftest import ROOT, SEED_FILE, SEEDS, run_bounded, run_cli


def _db(st_dir: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(store.db_path(st_dir)) as c:
        return c.execute(sql, args).fetchall()


def _paragraphs(result) -> str:
    return " ".join(p for d in result.documents for t in d.turns for p in t.paragraphs)


# -- item 2: names that are not UTF-8; unexpected errors ---------------------------------------
def test_a_file_name_that_is_not_utf8_is_stored_and_a_rerun_is_clean(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    with open(os.path.join(os.fsencode(inbox), b"caf\xe9 \xff.txt"), "wb") as fh:
        fh.write(SEED_FILE.read_bytes())
    st_dir = tmp_path / "store"
    args = ("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--json")
    r = run_bounded(*args)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["files_new"] == 1 and s["statements_added"] == 23
    # Stored under a readable form of its name: each byte that is not UTF-8 written as \xNN.
    assert _db(st_dir, "SELECT path FROM files")[0][0].endswith("caf\\xe9 \\xff.txt")
    assert _db(st_dir, "SELECT status FROM runs") == [("ok",)]
    for extra in ((), ("--rehash",)):  # found again by its stat, and by its content
        again = run_bounded(*args, *extra)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["files_unchanged"] == 1
    assert _db(st_dir, "SELECT COUNT(*) FROM statements") == [(23,)]


def test_an_unexpected_error_marks_the_run_failed_with_its_reason(tmp_path):
    st_dir = tmp_path / "store"
    assert run_cli("run", "--input", str(SEED_FILE), "--store", str(st_dir), "--no-snapshots").returncode == 0
    # A store that rejects every new document, as a full disk would.
    with sqlite3.connect(store.db_path(st_dir)) as c:
        c.execute("CREATE TRIGGER no_more BEFORE INSERT ON documents "
                  "BEGIN SELECT RAISE(ABORT, 'the store refuses writes'); END")
    other = tmp_path / "other.txt"
    other.write_text("2026-01-13\nWe spoke about tariffs on steel.\n")
    r = run_bounded("run", "--input", str(other), "--store", str(st_dir), "--no-snapshots")
    assert r.returncode == 1
    assert "the store refuses writes" in r.stderr and "Traceback" not in r.stderr
    (first,), (second,) = _db(st_dir, "SELECT status FROM runs ORDER BY run_id")
    assert first == "ok"
    assert second.startswith("failed") and "the store refuses writes" in second
    assert _db(st_dir, "SELECT COUNT(*) FROM documents") == [(1,)]


def test_names_with_control_characters_are_escaped_on_the_terminal(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "\x1b[31mred.txt").write_text("no date here\njust words\n")
    with open(os.path.join(os.fsencode(inbox), b"bad\xff.txt"), "wb") as fh:
        fh.write(b"")
    st_dir = tmp_path / "store"
    r = run_bounded("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots")
    assert r.returncode == 3, r.stderr
    assert "\x1b" not in r.stdout
    assert "\\x1b[31mred.txt: unknown format" in r.stdout
    assert "bad\\xff.txt: empty file" in r.stdout
    # The store keeps the real name (only a byte that is not UTF-8 is written as \xNN).
    paths = {Path(p).name for (p,) in _db(st_dir, "SELECT path FROM refusals")}
    assert paths == {"\x1b[31mred.txt", "bad\\xff.txt"}
    status = run_bounded("status", "--store", str(st_dir))
    assert status.returncode == 0 and "\x1b" not in status.stdout and "\\x1b[31mred.txt" in status.stdout


# -- item 6: special and huge files ---------------------------------------------------------------
@pytest.mark.parametrize("kind,reason", [
    ("fifo", "not a regular file (FIFO)"),
    ("device", "not a regular file (character device)"),
    ("sparse", "file is 4096 MB, over the 50 MB limit"),
])
def test_special_and_huge_files_are_refused_before_reading(tmp_path, kind, reason):
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(SEED_FILE, inbox / "good.txt")
    odd = inbox / f"{kind}.txt"
    if kind == "fifo":
        os.mkfifo(odd)  # reading it would wait for a writer forever
    elif kind == "device":
        os.symlink("/dev/zero", odd)  # reading it would never end
    else:
        with open(odd, "wb") as fh:
            fh.truncate(4 * 1024**3)  # 4 GB that take no disk
    r = run_bounded("run", "--input", str(inbox), "--store", str(tmp_path / "s"), "--no-snapshots", "--json",
                    timeout=60)
    assert r.returncode == 3, r.stderr
    s = json.loads(r.stdout)
    (refused,) = s["refused"]
    assert Path(refused["path"]).name == odd.name and refused["reason"].startswith(reason)
    assert s["files_new"] == 1 and s["statements_added"] == 23


def test_input_dev_zero_is_refused_as_not_a_regular_file(tmp_path):
    r = run_bounded("run", "--input", "/dev/zero", "--store", str(tmp_path / "s"), "--no-snapshots", timeout=60)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "/dev/zero: not a regular file (character device)" in r.stdout


# -- item 9: mostly UTF-8 with a bad byte, and genuine Windows-1252 -----------------------------
SPANISH = ("2026-01-12\nLa soberanía de México no se negocia, dijo la presidenta.\n"
           "Hablamos de migración, aranceles y seguridad en la región.\n")


def test_mostly_utf8_with_one_bad_byte_is_read_as_utf8_with_a_note():
    data = SPANISH.encode("utf-8").replace(b"dijo", b"di\xffjo")
    r = read_bytes(data, "mixed.txt")
    text = _paragraphs(r)
    assert "soberanía" in text and "migración" in text and "Ã" not in text
    assert "di\ufffdjo" in text
    assert r.notes == ["not valid UTF-8 in 1 byte, read as UTF-8 with that byte replaced by \ufffd"]


def test_a_genuine_windows_1252_file_is_still_read_as_windows_1252():
    # «AQUÍ» in Windows-1252 holds the bytes CD BB, which happen to be a valid UTF-8 sequence: one
    # such accident among many bytes that are not UTF-8 must not turn the file into UTF-8.
    data = (SPANISH + "Y gritaron: «¡AQUÍ!» y «AQUÍ»\n").encode("cp1252")
    r = read_bytes(data, "legacy.txt")
    text = _paragraphs(r)
    assert "soberanía" in text and "«¡AQUÍ!» y «AQUÍ»" in text
    assert r.notes == []


# -- item 10: deep JSON, huge CSV fields, huge paragraphs ----------------------------------------
def test_a_deeply_nested_json_line_refuses_that_line_only():
    data = ('{"date": "2026-01-12", "text": "Hablamos de aranceles."}\n' + "[" * 100_000 + "\n"
            + '{"date": "2026-01-13", "text": "Y de migración."}\n').encode()
    r = read_bytes(data, "deep.jsonl")
    assert sorted(d.date.isoformat() for d in r.documents) == ["2026-01-12", "2026-01-13"]
    assert [(p.line, p.reason) for p in r.problems] == [(2, "JSON nested too deeply")]


def test_a_csv_field_over_the_csv_limit_refuses_that_line_only():
    data = ("date,text\n2026-01-12,Hablamos de aranceles.\n2026-01-13," + "y" * 200_000
            + "\n2026-01-14,Y de migración.\n").encode()
    r = read_bytes(data, "big.csv")
    assert sorted(d.date.isoformat() for d in r.documents) == ["2026-01-12", "2026-01-14"]
    assert [p.line for p in r.problems] == [3]
    assert "field larger than" in r.problems[0].reason


def test_a_40_mb_token_is_cut_at_the_statement_cap_with_a_note(tmp_path):
    f = tmp_path / "token.txt"
    f.write_text("2026-01-12\n" + "x" * 40_000_000 + "\nWe spoke about tariffs on steel.\n")
    st_dir = tmp_path / "s"
    r = run_bounded("run", "--input", str(f), "--store", str(st_dir), "--no-snapshots", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["statements_added"] == 2
    assert sorted(n for (n,) in _db(st_dir, "SELECT length(text) FROM statements")) == [32, 20_000]
    assert [n["note"] for n in s["notes"]] == [
        "paragraph 1 cut from 40,000,000 to 20,000 characters (the limit for one statement)"]


# -- item 12: unreadable folders, dates that are not dates, concurrent runs -----------------------
def test_a_folder_listing_error_becomes_a_refusal():
    from pipeline.readers import walk_refusal

    try:
        os.scandir(SEED_FILE)  # a real listing failure (whoever runs the test): not a folder
    except OSError as exc:
        err = exc
    prob = walk_refusal(err)
    assert prob.path == str(SEED_FILE)
    assert prob.reason == "cannot list folder: Not a directory"


def test_an_unreadable_folder_is_refused_with_its_reason(tmp_path):
    inbox = tmp_path / "in"
    (inbox / "locked").mkdir(parents=True)
    shutil.copy(SEED_FILE, inbox / "good.txt")
    shutil.copy(SEED_FILE, inbox / "locked" / "hidden-away.txt")
    (inbox / "locked").chmod(0)
    try:
        r = run_bounded("run", "--input", str(inbox), "--store", str(tmp_path / "store"), "--no-snapshots",
                        as_user=True)
    finally:
        (inbox / "locked").chmod(0o755)
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"{inbox / 'locked'}: cannot list folder: Permission denied" in r.stdout
    assert "files: 2 = new 1 + changed 0 + unchanged 0 + duplicate 0 + refused 1   (read: 1)" in r.stdout


def test_a_date_shaped_first_line_that_is_no_date_says_so():
    with pytest.raises(InputError) as info:
        detect("FEBRUARY 31, 2026\nA paragraph.\n", "feb31.txt")
    assert str(info.value) == "feb31.txt: not a date: FEBRUARY 31, 2026"
    with pytest.raises(InputError) as info:
        read_bytes(b"FEBRUARY 31, 2026\nA paragraph.\n", "feb31.txt", "plain")
    assert str(info.value) == "feb31.txt: not a date: FEBRUARY 31, 2026"


def _run_process(inbox: Path, st_dir: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--input", str(inbox), "--store",
                             str(st_dir), "--json", "--workers", "1", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_runs_on_one_store_take_turns(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    for f in sorted((SEEDS / "mananeras").rglob("*.txt"))[:40]:
        shutil.copy(f, inbox / f.name)
    st_dir = tmp_path / "store"
    first = _run_process(inbox, st_dir)
    deadline = time.time() + 60
    while time.time() < deadline and first.poll() is None:  # until the first run is writing
        try:
            if _db(st_dir, "SELECT 1 FROM runs WHERE status = 'running'"):
                break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    second = _run_process(inbox, st_dir)
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    s1, s2 = json.loads(out1), json.loads(out2)
    assert s1["files_new"] == 40 and s1["snapshots_written"]
    assert f"waiting for run in process {first.pid} to finish" in err2
    assert (s2["files_new"], s2["files_changed"], s2["files_unchanged"]) == (0, 0, 40)
    assert s2["statements_added"] == 0 and s2["snapshots_written"] == []
    assert _db(st_dir, "SELECT COUNT(*) FROM statements") == [(s1["statements_added"],)]
    assert _db(st_dir, "SELECT status FROM runs ORDER BY run_id") == [("ok",), ("ok",)]


def test_a_run_gives_up_after_its_lock_timeout(tmp_path):
    from pipeline.lock import writer_lock

    st_dir = tmp_path / "store"
    with writer_lock(st_dir):  # this process is the writer now
        t0 = time.time()
        r = run_bounded("run", "--input", str(SEED_FILE), "--store", str(st_dir), "--no-snapshots",
                        "--lock-timeout", "1")
        took = time.time() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"error: {st_dir}: another run (process {os.getpid()}) is writing to this store; "
            "gave up waiting after 1 s") in r.stderr
    assert took < 30
    assert not store.db_path(st_dir).exists() or _db(st_dir, "SELECT COUNT(*) FROM statements") == [(0,)]


def test_a_json_record_with_a_lone_surrogate_escape_is_stored_not_a_crash(tmp_path):
    # "\ud800" is valid JSON but no character: SQLite refused it and the whole run stopped.
    f = tmp_path / "recs.jsonl"
    f.write_text('{"date": "2026-01-12", "text": "Hablamos de aranceles \\ud800 y de acero."}\n')
    st_dir = tmp_path / "s"
    r = run_bounded("run", "--input", str(f), "--store", str(st_dir), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _db(st_dir, "SELECT text FROM statements") == [("Hablamos de aranceles \ufffd y de acero.",)]


# -- store folders that cannot be written (QA item 7 and item 4's `run --store` cases) -----------
@pytest.fixture()
def frozen(tmp_path):
    """Make a folder read-only even to root (`chattr +i`), undone after the test; skip where chattr
    is missing or refused (not root, a file system without the flag)."""
    made: list[Path] = []

    def freeze(folder: Path) -> Path:
        if shutil.which("chattr") is None:
            pytest.skip("needs chattr to make a folder read-only (root ignores permission bits)")
        r = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"chattr +i refused here: {r.stderr.strip()}")
        made.append(folder)
        return folder

    yield freeze
    for folder in made:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_store_in_a_read_only_folder_can_be_read_but_not_run_into(tmp_path, frozen):
    st_dir = tmp_path / "store"
    assert run_cli("run", "--input", str(SEED_FILE), "--store", str(st_dir), "--no-snapshots").returncode == 0
    assert not (st_dir / "tracker.db-wal").exists()  # a finished run leaves no write-ahead log
    frozen(st_dir)
    status = run_cli("status", "--store", str(st_dir), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["statements"] == 23
    export = run_cli("export", "--store", str(st_dir), "--output", "-")
    assert export.returncode == 0, export.stderr
    assert len(export.stdout.splitlines()) == 23
    again = run_cli("run", "--input", str(SEED_FILE), "--store", str(st_dir), "--no-snapshots")
    assert again.returncode == 1
    assert again.stderr.strip() == (f"error: {st_dir}: the folder cannot be written, so a run cannot store "
                                    "anything in it (status and export can still read the store)")
    assert not list(st_dir.glob("tracker.db-*"))


@pytest.mark.parametrize("where, reason", [
    ("afile", "is a file, not a store folder; give --store a folder"),
    ("afile/store", "cannot create the store folder (Not a directory)"),
])
def test_a_store_path_that_cannot_be_a_folder_is_one_line_naming_it(tmp_path, where, reason):
    (tmp_path / "afile").write_text("not a store\n")
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(tmp_path / where), "--no-snapshots")
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: {tmp_path / where}: {reason}"


def test_a_store_whose_parent_cannot_be_written_is_one_line_naming_it(tmp_path, frozen):
    (tmp_path / "ro").mkdir()
    frozen(tmp_path / "ro")
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "ro" / "store"), "--no-snapshots")
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: {tmp_path / 'ro' / 'store'}: cannot create the store folder " \
                               "(Operation not permitted)"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs a file that says it is empty (Linux /proc)")
def test_a_file_with_more_bytes_than_its_size_says_is_read_whole():
    # read_file reads as many bytes as fstat gives (and one more, to see a file grow): a file that
    # says it is empty but is not (as /proc's do, or one written meanwhile) is still read to its end.
    from pipeline.readers import read_file

    data = read_file("/proc/self/status")
    assert os.stat("/proc/self/status").st_size == 0
    assert data.startswith(b"Name:") and b"\nPid:" in data and data.endswith(b"\n") and len(data) > 500
