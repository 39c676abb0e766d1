"""Defects a demanding user found by using the command line: each test runs the real command on
real files and a real store, and failed before its fix."""

from __future__ import annotations

import json
import os

from tests.conftest import ROOT, SEED_FILE, run_bounded, run_cli


# -- huge values: refused before any work, instead of running for minutes or taking the memory ----
def test_a_queue_batch_over_the_limit_is_a_usage_error_not_minutes_of_work(seed_store):
    # --batch 100000 compared every picked statement with every other one: many minutes of CPU.
    r = run_bounded("labels", "queue", "--topic", "trade", "--store", str(seed_store), "--batch", "100000",
                    timeout=60)
    assert r.returncode == 2, r.stderr
    assert "--batch" in r.stderr and "at most 1000" in r.stderr and "Traceback" not in r.stderr
    r = run_bounded("labels", "queue", "--topic", "trade", "--store", str(seed_store), "--batch", "1000")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1000


def test_leadlag_bootstrap_over_the_limit_is_a_usage_error(seed_store):
    # 20,000 replications took 2.5 GB on the full store; 200,000 would take the machine's memory.
    r = run_cli("leadlag", "--store", str(seed_store), "--bootstrap", "100000")
    assert r.returncode == 2
    assert "--bootstrap" in r.stderr and "at most 5000" in r.stderr


def test_more_processes_than_processors_is_a_usage_error(tmp_path):
    # `run --workers 1000` started a thousand workers, each loading the model.
    too_many = str(max(2, os.cpu_count() or 1) + 1)
    store = tmp_path / "store"
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(store), "--workers", too_many)
    assert r.returncode == 2, r.stderr + r.stdout
    assert "--workers" in r.stderr and "processors" in r.stderr
    assert not store.exists()
    r = run_cli("train", "--labels", str(tmp_path), "--output", str(tmp_path / "m.skops"), "--jobs", too_many)
    assert r.returncode == 2 and "--jobs" in r.stderr and "processors" in r.stderr
    assert not (tmp_path / "m.skops").exists()
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(store), "--workers", "2", "--no-snapshots")
    assert r.returncode == 0, r.stderr  # the default count is always allowed


# -- a bad line in a --gold file: a usage error naming the line and what is wrong ------------------
def test_a_bad_gold_line_is_a_usage_error_saying_what_is_wrong(tmp_path):
    cases = {
        "not json\n": "not valid JSON (Expecting value at column 1)",
        '{"text": "x"}\n': "'topics' missing",
        '{"topics": ["trade"]}\n': "'text' missing or not a string",
        '{"text": "x", "topics": "trade"}\n': "'topics' must be a list of topic names",
        "[1, 2]\n": "a label line must be a JSON object",
    }
    for i, (line, reason) in enumerate(cases.items()):
        gold = tmp_path / f"gold{i}.jsonl"
        gold.write_text('{"text": "Tariffs on steel.", "topics": ["trade"], "lang": "en"}\n' + line)
        r = run_cli("evaluate", "--gold", str(gold))
        # It was exit 1 ("the store or model cannot be used") with "a label line needs 'text' and
        # 'topics' ('topics')", or with the JSON error of a line that was no JSON at all.
        assert r.returncode == 2, (line, r.stderr)
        assert r.stderr.startswith(f"error: {gold}:2: {reason}"), r.stderr
        assert "Traceback" not in r.stderr


# -- what the reliability card says of the audit sample ----------------------------------------------
def test_reliability_does_not_say_the_audit_coders_were_people(seed_store):
    # The audit sample was coded by two independent coders (AI annotators: audit.jsonl's labeller);
    # the card said "coded by two people", which a report citing it would repeat.
    labellers = {json.loads(line)["labeller"].split(":")[0]
                 for line in (ROOT / "pipeline" / "audit" / "audit.jsonl").read_text(encoding="utf-8").splitlines()}
    assert labellers == {"ai-annotator"}
    r = run_cli("reliability", "--store", str(seed_store), "--no-drift")
    assert r.returncode == 0, r.stderr
    assert "two people" not in r.stdout
    assert "coded by two independent coders" in r.stdout.splitlines()[0]


# -- a records line that is no JSON: the reason says where ------------------------------------------
def test_a_truncated_records_line_is_refused_with_its_column(tmp_path):
    # It read "not valid JSON (Unterminated string starting at)": a reason cut off before the place.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "recs.jsonl").write_text('{"date": "2026-01-12", "text": "Tariffs on st')
    r = run_cli("run", "--input", str(tmp_path / "in"), "--store", str(tmp_path / "store"), "--no-snapshots")
    assert r.returncode == 3, r.stderr + r.stdout
    assert "recs.jsonl:1: not valid JSON (Unterminated string starting at column 32)" in r.stdout


# -- a trend over dates the store has no statement in ------------------------------------------------
def test_trend_outside_the_stores_dates_says_where_its_statements_are(seed_store):
    # An empty table and exit 0, nothing else: read as "the topic never came up in 2030".
    r = run_cli("trend", "--store", str(seed_store), "--since", "2030-01-01", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []  # standard output stays pure JSON
    assert r.stderr == ("note: no statements from 2030-01-01 on; the store's statements are dated "
                        "2025-01-20 to 2026-03-31\n")
    r = run_cli("trend", "--store", str(seed_store), "--since", "2025-07-01", "--until", "2025-08-01",
                "--source", "White House")
    assert r.returncode == 0 and r.stdout.splitlines()[1:] == []
    assert "no statements from 2025-07-01 to 2025-08-01 for these sources" in r.stderr
    r = run_cli("trend", "--store", str(seed_store), "--since", "2026-01-01")
    assert r.returncode == 0 and r.stderr == ""  # no note when there are statements


# -- a --store that is a file -------------------------------------------------------------------------
def test_every_reader_of_a_store_that_is_a_file_says_it_is_a_file(tmp_path):
    # `run` said it; `status`, `trend`, `export`, `labels export` said "FILE/tracker.db: no store
    # here; fill one with run", as if the file were a folder to fill.
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("not a store")
    for command in (("status",), ("trend",), ("export", "--output", "-"), ("labels", "export", "--output", "-"),
                    ("run", "--input", str(SEED_FILE))):
        r = run_cli(*command, "--store", str(not_a_folder))
        assert r.returncode == 1, (command, r.stderr)
        assert r.stderr == f"error: {not_a_folder}: is a file, not a store folder; give --store a folder\n"
    assert not_a_folder.read_text() == "not a store"


# -- an output that is a device or a named pipe ------------------------------------------------------
def _read_fifo(fifo, got: list) -> None:
    with open(fifo, encoding="utf-8") as fh:
        got.append(fh.read())


def test_an_output_that_is_a_named_pipe_is_written_into_not_replaced(seed_store, tmp_path):
    # `tag --output /dev/stdout` (or /dev/null, a named pipe) wrote FILE.part beside it and renamed
    # it onto the path: the pipe's reader got nothing and, run as root, /dev/null became a regular
    # file. A named pipe stands in for the device here (replacing it harms nothing else).
    import stat
    import threading

    statements = tmp_path / "in.txt"
    statements.write_text("Tariffs on steel and aluminum.\n")
    commands = {
        "tag.jsonl": ("tag", "--input", str(statements)),
        "export.jsonl": ("export", "--store", str(seed_store)),
        "labels.jsonl": ("labels", "export", "--store", str(seed_store)),
    }
    for name, command in commands.items():
        fifo = tmp_path / name
        os.mkfifo(fifo)
        got: list[str] = []
        reader = threading.Thread(target=_read_fifo, args=(fifo, got), daemon=True)
        reader.start()
        r = run_cli(*command, "--output", str(fifo))
        if reader.is_alive():  # never opened for writing: let the reader go
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
        assert r.returncode == 0, (name, r.stderr)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode), f"{name}: the named pipe was replaced by a file"
        assert not (tmp_path / f"{name}.part").exists()
        if name == "tag.jsonl":
            assert json.loads(got[0])["topics"] == ["trade"]
        elif name == "export.jsonl":
            assert len(got[0].splitlines()) > 80_000
        else:
            assert got == [""]  # the seed store's label log is empty: an empty output, written there



# -- train --output checked before training ---------------------------------------------------------
def test_a_train_output_that_cannot_be_a_model_file_is_refused_before_training(tmp_path):
    # Each was found only after the whole fit (1.5 minutes on the shipped labels), as a traceback
    # (a folder; a path under a file), or silently replaced a named pipe with the model.
    import stat

    labels = tmp_path / "labels"
    labels.mkdir()
    for name in ("train_en.jsonl", "train_es.jsonl"):  # a small labelled set: a fit of seconds
        lines = (ROOT / "pipeline" / "labels" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (labels / name).write_text("".join(lines[:300]), encoding="utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_text("kept")
    fifo = tmp_path / "pipe.skops"
    os.mkfifo(fifo)
    cases = {tmp_path: "a folder; give the name of a file to write",
             notes / "m.skops": f"{notes} is a file, not a folder",
             fifo: "not a regular file; a model is written to a file of its own"}
    for out, reason in cases.items():
        r = run_bounded("train", "--labels", str(labels), "--output", str(out), "--jobs", "1")
        assert r.returncode == 2, (out, r.stderr)
        assert r.stderr == f"error: {out}: {reason}\n"  # not even the "training on ..." line
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and notes.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels", "notes.txt", "pipe.skops"]


# -- a device named as an input file ------------------------------------------------------------------
def test_a_device_named_as_an_input_file_is_refused_without_reading_it(tmp_path):
    # `tag --input /dev/zero` read until the machine's memory ran out (the OOM killer ended it);
    # under a memory limit it, `--gold` and `--topics` ended in a MemoryError traceback. `run
    # --input /dev/zero` already refused it.
    cases = [(("tag", "--input", "/dev/zero", "--output", "-"), 2,
              "error: /dev/zero: not a regular file (character device)\n"),
             (("evaluate", "--gold", "/dev/zero"), 2, "error: /dev/zero: not a regular file (character device)\n"),
             (("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "store"), "--topics", "/dev/zero"), 1,
              "error: /dev/zero: cannot read topics file (not a regular file: character device)\n")]
    for args, code, message in cases:
        r = run_bounded(*args, timeout=60)
        assert (r.returncode, r.stderr) == (code, message), args
    assert not (tmp_path / "store").exists()
    fifo = tmp_path / "statements.txt"  # a pipe is still read: `tag --input <(...)`
    os.mkfifo(fifo)
    import threading

    def feed() -> None:
        with open(fifo, "w") as fh:
            fh.write("Tariffs on steel.\n")

    threading.Thread(target=feed, daemon=True).start()
    r = run_bounded("tag", "--input", str(fifo), "--output", "-", timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["topics"] == ["trade"], r.stderr


# -- a topics file of the wrong shape -----------------------------------------------------------------
def test_a_topics_file_of_the_wrong_shape_is_one_line_naming_what_is_wrong(tmp_path):
    # `topic = "trade"` or a single [topic] table ended in a traceback (AttributeError); `cues =
    # "tariff"` (a string, not a list) was taken as the cues t, a, r, i, f: every word with a t.
    cases = {
        'topic = "trade"\n': "'topic' must be [[topic]] tables",
        '[topic]\nname = "trade"\ncues = ["tariff"]\n': "'topic' must be [[topic]] tables",
        '[[topic]]\nname = "trade"\ncues = "tariff"\n': "topic 'trade': 'cues' must be a list of strings",
        '[[topic]]\nname = "trade"\ncues = ["tariff"]\nexclude = "tariff rate"\n':
            "topic 'trade': 'exclude' must be a list of strings",
        '[[topic]]\nname = "trade"\ncues = ["tariff", 3]\n': "topic 'trade': 'cues' must be a list of strings",
    }
    for i, (text, reason) in enumerate(cases.items()):
        topics = tmp_path / f"topics{i}.toml"
        topics.write_text(text)
        store = tmp_path / f"store{i}"
        r = run_cli("run", "--input", str(SEED_FILE), "--store", str(store), "--topics", str(topics))
        assert (r.returncode, r.stderr) == (1, f"error: {topics}: {reason}\n"), text
        assert not store.exists()


# -- a setting set to nothing ----------------------------------------------------------------------
def test_a_setting_set_to_nothing_means_its_default_not_the_current_folder(tmp_path):
    # `TOPICS_STORE= TOPICS_LABELS= python -m pipeline run ...` (a blank line in an env file)
    # made the store in the current folder and took that folder for the labelled set (writing
    # its cache of label texts there and counting no statement as labelled).
    work = tmp_path / "work"
    work.mkdir()
    env = {"TOPICS_STORE": "", "TOPICS_LABELS": "", "TOPICS_MODEL": "", "TOPICS_FILE": ""}
    r = run_cli("run", "--input", str(SEED_FILE), "--no-snapshots", cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in work.iterdir()) == ["data"]
    assert (work / "data" / "store" / "tracker.db").is_file()
    r = run_cli("settings", env=env)
    assert "$TOPICS_STORE           = 'data/store'" in r.stdout


# -- an empty path argument ---------------------------------------------------------------------------
def test_an_empty_path_argument_is_a_usage_error_not_the_current_folder(tmp_path):
    # `run --input "$INBOX"` with INBOX unset read the current folder (recursively) and
    # `--store ""` made the store there.
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text(SEED_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    for option, args in (("--input", ("run", "--input", "", "--store", str(tmp_path / "s"))),
                         ("--store", ("run", "--input", str(SEED_FILE), "--store", "")),
                         ("--store", ("status", "--store", "")),
                         ("--model", ("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "s"), "--model", "")),
                         ("--labels", ("train", "--labels", "", "--output", str(tmp_path / "m.skops")))):
        r = run_cli(*args, cwd=work)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.splitlines()[-1] == f"error: argument {option}: empty path", args
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt"] and not (tmp_path / "s").exists()


# -- a transcript saved as UTF-16 -----------------------------------------------------------------------
def test_a_utf16_transcript_with_its_bom_is_read_like_its_utf8_original(tmp_path):
    # Windows editors save "Unicode" text as UTF-16 with a byte-order mark; such a transcript was
    # refused as "binary file (contains NUL bytes)".
    import codecs
    import sqlite3

    text = SEED_FILE.read_text(encoding="utf-8").replace("\n", "\r\n")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "le.txt").write_bytes(text.encode("utf-16"))  # with its BOM, little-endian here
    (folder / "be.txt").write_bytes(codecs.BOM_UTF16_BE + text.replace("JANUARY 12", "JANUARY 13").encode("utf-16-be"))
    store = tmp_path / "store"
    r = run_cli("run", "--input", str(folder), "--store", str(store), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    run_cli("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "utf8"), "--no-snapshots")
    with sqlite3.connect(store / "tracker.db") as a, sqlite3.connect(tmp_path / "utf8" / "tracker.db") as b:
        texts = a.execute("SELECT text FROM statements WHERE date = (SELECT min(date) FROM statements) "
                          "ORDER BY position").fetchall()
        assert texts == b.execute("SELECT text FROM statements ORDER BY position").fetchall()
        assert a.execute("SELECT count(*) FROM statements").fetchone() == (46,)


# -- a --store holding another program's database ---------------------------------------------------
def test_another_programs_database_is_not_taken_for_a_store(tmp_path):
    # A folder (or a --store FILE.db) holding another program's SQLite database: the run added
    # its twenty tables to it and stored its statements there.
    import sqlite3

    for store, db in ((tmp_path / "app", tmp_path / "app" / "tracker.db"), (tmp_path / "notes.db",) * 2):
        db.parent.mkdir(exist_ok=True)
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE notes(body TEXT)")
            conn.execute("INSERT INTO notes VALUES ('keep me')")
        conn.close()
        before = db.read_bytes()
        r = run_cli("run", "--input", str(SEED_FILE), "--store", str(store), "--no-snapshots")
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stderr == (f"error: {db}: not a store of this project (a database with other tables: notes); "
                            "give --store a folder of its own\n")
        assert db.read_bytes() == before


# -- a source name with control characters -------------------------------------------------------------
def test_source_names_from_a_records_file_reach_the_terminal_escaped(tmp_path):
    # A records file is data: its "source" went to the terminal raw in `status` ("per source") and
    # in `reliability`'s drift lines, so an escape sequence in it recoloured (or retitled, or
    # cleared) the user's terminal and a newline forged a line of output.
    folder = tmp_path / "in"
    folder.mkdir()
    evil = "Evil\x1b[31mRED\nline"
    (folder / "r.jsonl").write_text("".join(
        json.dumps({"date": f"2026-01-{5 + i % 20:02d}", "text": f"Tariffs on steel and fentanyl at the border {i}",
                    "source": evil}) + "\n" for i in range(60)), encoding="utf-8")
    store = tmp_path / "store"
    assert run_cli("run", "--input", str(folder), "--store", str(store), "--no-snapshots").returncode == 0
    for command in (("status",), ("reliability",)):
        r = run_cli(*command, "--store", str(store))
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout and "\nline" not in r.stdout, command
        assert "Evil\\x1b[31mRED\\x0aline" in r.stdout, command


# -- more cross-validation folds than labelled statements ------------------------------------------
def test_more_folds_than_labelled_statements_is_one_error_line(tmp_path):
    # `evaluate --cv 100000` ended in scikit-learn's traceback (ValueError: Cannot have number of
    # splits n_splits=100000 greater than the number of samples).
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in ("train_en.jsonl", "train_es.jsonl"):
        lines = (ROOT / "pipeline" / "labels" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (labels / name).write_text("".join(lines[:300]), encoding="utf-8")
    r = run_bounded("evaluate", "--cv", "100000", "--labels", str(labels))
    assert (r.returncode, r.stderr) == (
        1, "error: --cv 100000: more folds than labelled statements (600); each fold needs at least one\n")


# -- a label file that cannot be read -----------------------------------------------------------------
def _small_labels(folder) -> None:
    folder.mkdir()
    for name in ("train_en.jsonl", "train_es.jsonl"):
        lines = (ROOT / "pipeline" / "labels" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / name).write_text("".join(lines[:300]), encoding="utf-8")


def test_a_label_file_that_cannot_be_read_is_named_before_a_run_stores_anything(tmp_path):
    # One bad file in the labels folder (TOPICS_LABELS): not UTF-8, and a run refused every input
    # file as "could not be processed (UnicodeDecodeError ...)", blaming the transcript; a folder
    # or a dangling link named *.jsonl, and run, train and evaluate ended in a traceback (the run
    # after making the store); a link to /dev/zero was read until memory ran out.
    bad = {"latin.jsonl": "not UTF-8 text (byte 24); label files are UTF-8 JSON Lines",
           "folder.jsonl": "not a file of labelled statements (a folder)",
           "gone.jsonl": "cannot read labelled statements (No such file or directory)",
           "zero.jsonl": "not a file of labelled statements (character device)"}
    for i, (name, reason) in enumerate(bad.items()):
        labels = tmp_path / f"labels{i}"
        _small_labels(labels)
        target = labels / name
        if name == "latin.jsonl":
            target.write_bytes('{"text": "Aranceles de México", "topics": ["trade"]}\n'.encode("latin-1"))
        elif name == "folder.jsonl":
            target.mkdir()
        else:
            os.symlink("/dev/zero" if name == "zero.jsonl" else "moved-away.jsonl", target)
        message = f"error: {target}: {reason}\n"
        store = tmp_path / f"store{i}"
        r = run_bounded("run", "--input", str(SEED_FILE), "--store", str(store), "--no-snapshots",
                        env={"TOPICS_LABELS": str(labels)})
        if name == "latin.jsonl":  # ran: the seed file refused for the label file's fault
            assert "UnicodeDecodeError" not in r.stdout
        assert (r.returncode, r.stderr) == (1, message), name
        assert not store.exists()
        r = run_bounded("evaluate", "--cv", "2", "--labels", str(labels), "--jobs", "1")
        assert (r.returncode, r.stderr) == (1, message), name
        r = run_bounded("train", "--labels", str(labels), "--output", str(tmp_path / "m.skops"), "--jobs", "1")
        assert (r.returncode, r.stderr.splitlines()[-1] + "\n") == (1, message), name
        assert not (tmp_path / "m.skops").exists()


def test_a_model_that_cannot_be_written_is_one_error_line_and_the_old_model_stays(tmp_path):
    # A folder that cannot be written (or a full disk) was found after the whole fit as a Python
    # traceback (PermissionError, OSError: No space left on device), an empty M.tmp left behind.
    labels = tmp_path / "labels"
    _small_labels(labels)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "m.skops").write_bytes(b"the model in place")
    folder.chmod(0o555)
    try:
        r = run_bounded("train", "--labels", str(labels), "--output", str(folder / "m.skops"), "--jobs", "1",
                        as_user=True)
    finally:
        folder.chmod(0o755)
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1] == (f"error: {folder / 'm.skops'}: cannot be written (Permission denied); "
                                         "the model in place is unchanged")
    assert sorted(p.name for p in folder.iterdir()) == ["m.skops"]
    assert (folder / "m.skops").read_bytes() == b"the model in place"


# -- a name longer than the file system allows ------------------------------------------------------
def test_a_path_with_a_name_too_long_is_one_error_line(tmp_path):
    # A name over 255 bytes made pathlib's checks (exists, is_dir) raise instead of answering: a
    # traceback (OSError: [Errno 36] File name too long) from run, status, trend, export, tag,
    # snapshot and train.
    long = tmp_path / ("x" * 300)
    store = tmp_path / "store"
    commands = [("run", "--input", str(SEED_FILE), "--store", str(long)),
                ("status", "--store", str(long)),
                ("trend", "--store", str(long)),
                ("export", "--store", str(long), "--output", "-"),
                ("tag", "--input", str(SEED_FILE), "--output", str(long) + ".jsonl"),
                ("train", "--labels", str(tmp_path), "--output", str(long) + ".skops"),
                ("run", "--input", str(SEED_FILE), "--store", str(store), "--model", str(long))]
    for args in commands:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith(f"error: {long}") and r.stderr.endswith(": file name too long\n"), r.stderr
        assert len(r.stderr.splitlines()) == 1, r.stderr
    assert not store.exists()
    # An input path of that kind is refused as one that does not exist is, and the run goes on.
    r = run_cli("run", "--input", str(long) + ".txt", str(SEED_FILE), "--store", str(store), "--no-snapshots")
    assert r.returncode == 3, r.stderr
    assert f"    {long}.txt: cannot read: File name too long\n" in r.stdout and "  files: 2 = new 1 " in r.stdout


# -- a store whose database file is read-only -------------------------------------------------------
def test_a_read_only_database_file_is_named_not_a_traceback(seed_store, tmp_path):
    # A store copied from read-only media (tracker.db mode 444, its folder writable): the run
    # ended in a traceback, sqlite3.OperationalError: attempt to write a readonly database.
    import shutil

    store = tmp_path / "store"
    shutil.copytree(seed_store, store)
    db = store / "tracker.db"
    before = db.read_bytes()
    db.chmod(0o444)
    r = run_bounded("run", "--input", str(SEED_FILE), "--store", str(store), as_user=True)
    assert r.returncode == 1, r.stderr
    assert r.stderr == (f"error: {db}: the store's database file cannot be written, so a run cannot store "
                        "anything in it (status and export can still read the store)\n")
    assert db.read_bytes() == before
    r = run_bounded("status", "--store", str(store), as_user=True)
    assert r.returncode == 0, r.stderr


# -- a bad TOPICS_JOBS -----------------------------------------------------------------------------------
def test_a_bad_jobs_setting_is_named_in_the_error(tmp_path):
    # TOPICS_JOBS=abc said only "argument --jobs: not a positive whole number: 'abc'" to a user who
    # had typed no --jobs.
    for value, reason in (("abc", "not a positive whole number: 'abc'"),
                          ("100000", "'100000' is more processes than this machine's")):
        r = run_cli("train", "--labels", str(tmp_path), "--output", str(tmp_path / "m.skops"),
                    env={"TOPICS_JOBS": value})
        assert r.returncode == 2
        last = r.stderr.splitlines()[-1]
        assert last.startswith(f"error: argument --jobs: {reason}") and last.endswith(" (set by TOPICS_JOBS)"), last
