"""The command line as a user types it: help, one-line errors instead of tracebacks, pipes closed
early, and options checked before any work. Real files, real subprocess runs."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import build_parser
from tests.conftest import ROOT, SEED_FILE, built_store, run_bounded, run_cli


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


# -- one line naming the path, never a traceback -------------------------------------------------

@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    """A store of the one seed file (23 statements)."""
    return built_store(tmp_path_factory, "small", SEED_FILE)


def _one_error_line(r, path, reason: str, code: int) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: {path}: {reason}"


def test_export_to_a_path_that_cannot_be_a_file_is_one_usage_error(small_store, tmp_path):
    r = run_cli("export", "--store", str(small_store), "--output", str(tmp_path / "nodir" / "x.csv"))
    _one_error_line(r, tmp_path / "nodir" / "x.csv", f"folder {tmp_path / 'nodir'} does not exist", 2)
    r = run_cli("export", "--store", str(small_store), "--output", str(tmp_path))
    _one_error_line(r, tmp_path, "a folder; give the name of a file to write", 2)
    r = run_cli("export", "--store", str(small_store), "--output", "")
    assert r.returncode == 2 and r.stderr.startswith("error: --output: empty path") and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())  # not even a .part


def test_export_into_a_folder_that_cannot_be_written_exits_1_naming_it(small_store, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = run_bounded("export", "--store", str(small_store), "--output", str(ro / "x.csv"), as_user=True)
    finally:
        ro.chmod(0o755)
    _one_error_line(r, ro / "x.csv", "cannot be written (permission denied)", 1)
    assert not list(ro.iterdir())


def test_tag_input_that_cannot_be_read_is_one_line_naming_it(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Aranceles al acero de México.\n".encode("latin-1"))
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)))
    cases = [(tmp_path / "missing.txt", "no such file"),
             (latin, "not UTF-8 text (byte 0xe9 at position 23); save it as UTF-8"),
             (binary, "binary data, not text"),
             (tmp_path, "a folder, not a file")]
    for path, reason in cases:
        r = run_cli("tag", "--input", str(path), "--output", "-")
        _one_error_line(r, path, reason, 2)
    out = tmp_path / "nodir" / "t.out"
    r = run_cli("tag", "--input", "-", "--output", str(out), input="Tariffs on steel.\n")
    _one_error_line(r, out, f"folder {out.parent} does not exist", 2)


def test_evaluate_gold_that_cannot_be_read_is_one_line_naming_it(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"text": "Aranceles a México", "topics": ["trade"]}\n'.encode("latin-1"))
    cases = [(tmp_path / "missing.jsonl", "no such file"), (empty, "no labelled statements in it"),
             (tmp_path, "a folder, not a file"),
             (latin, "not UTF-8 text (byte 0xe9 at position 23); save it as UTF-8")]
    for path, reason in cases:
        r = run_cli("evaluate", "--gold", str(path))
        _one_error_line(r, path, reason, 2)


def test_retrain_on_a_store_that_does_not_exist_says_so_and_writes_nothing(tmp_path):
    r = run_cli("retrain", "--store", str(tmp_path / "nothing"))
    _one_error_line(r, tmp_path / "nothing" / "tracker.db",
                    "no store here; fill one with `python -m pipeline run --input PATH`", 1)
    assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize("args", [("export", "--output", "-"), ("trend", "--by", "day")])
def test_output_piped_into_a_reader_that_stops_early_ends_quietly(seed_store, args):
    """`... | head -1`: the command stops when its reader goes, as SIGPIPE would stop it (141), with
    nothing on stderr."""
    p = subprocess.Popen([sys.executable, "-m", "pipeline", *args, "--store", str(seed_store)], cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 141, err
    assert err == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [("export", "--output", "-"), ("trend",), ("status",), ("settings",)])
def test_standard_output_on_a_full_disk_is_one_error_line(small_store, args):
    """`... > file` on a full disk (here /dev/full): exit 1 and one line saying standard output
    cannot be written, not a Python traceback."""
    store = () if args == ("settings",) else ("--store", str(small_store))
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "pipeline", *args, *store], cwd=ROOT, stdout=full,
                           stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1] == "error: standard output: cannot be written (No space left on device)"
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


def test_export_format_follows_the_extension_in_any_case(small_store, tmp_path):
    r = run_cli("export", "--store", str(small_store), "--output", str(tmp_path / "X.CSV"))
    assert r.returncode == 0, r.stderr
    with (tmp_path / "X.CSV").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 23 and rows[0]["statement_id"]
    r = run_cli("export", "--store", str(small_store), "--output", str(tmp_path / "y.JSONL"))
    assert r.returncode == 0 and len((tmp_path / "y.JSONL").read_text().splitlines()) == 23
    for name in ("x.txt", "noextension"):
        r = run_cli("export", "--store", str(small_store), "--output", str(tmp_path / name))
        assert r.returncode == 2 and "use .jsonl or .csv" in r.stderr and str(tmp_path / name) in r.stderr
        assert not (tmp_path / name).exists()
    r = run_cli("export", "--store", str(small_store), "--output", "-")
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[0])["statement_id"]


@pytest.mark.parametrize("command", [("export", "--output", "-"), ("trend",)])
def test_since_after_until_is_a_usage_error_naming_both(small_store, command):
    r = run_cli(*command, "--store", str(small_store), "--since", "2026-02-01", "--until", "2026-01-01")
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert "--since 2026-02-01 is after --until 2026-01-01" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(*command, "--store", str(small_store), "--since", "2026-01-12", "--until", "2026-01-12")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args,named", [
    (("run", "--input", "seeds", "--workers", "0"), "--workers"),
    (("evaluate", "--cv", "1"), "--cv"),
    (("evaluate", "--gold", "x.jsonl", "--errors", "-3"), "--errors"),
    (("leadlag", "--bootstrap", "-1"), "--bootstrap"),
])
def test_counts_that_make_no_sense_are_usage_errors_before_any_work(args, named, tmp_path):
    r = run_cli(*args, "--store", str(tmp_path / "s")) if args[0] in ("run", "leadlag") else run_cli(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert named in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s").exists()


def test_status_of_an_empty_store_says_so_in_words(tmp_path):
    from pipeline import store

    store.open_store(tmp_path / "s").close()  # a store with no statement yet
    r = run_cli("status", "--store", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    assert "dates: none yet" in r.stdout and "None" not in r.stdout.split("reliability")[0]
    assert "per source: none" in r.stdout


def test_run_summary_counts_refused_files_and_lines_apart(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "recs.jsonl").write_text('{"date": "2025-03-03", "text": "Tariffs on steel."}\n{"date": "x"}\n'
                                      '{"text": "no date"}\n')
    (inbox / "empty.txt").write_text("")
    r = run_cli("run", "--input", str(inbox), "--store", str(tmp_path / "s"), "--no-snapshots")
    assert r.returncode == 3, r.stderr
    assert "refused (1 file, 2 lines of records files):" in r.stdout, r.stdout


def test_train_says_what_it_is_doing_before_the_minutes_of_fitting(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    rows = [{"text": f"tariffs on steel number {i}" if i % 2 else f"the weather is fine {i}", "lang": "en",
             "topics": ["trade"] if i % 2 else [], "date": "2025-01-01"} for i in range(80)]
    rows += [{"text": f"{w} statement {i}", "lang": "en", "topics": [t], "date": "2025-01-01"}
             for w, t in (("cartel violence", "security"), ("migrants at the border crossing", "migration"),
                          ("our sovereignty", "sovereignty")) for i in range(20)]
    (labels / "small.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    r = run_cli("train", "--labels", str(labels), "--output", str(tmp_path / "m" / "tagger.skops"), "--jobs", "1")
    assert r.returncode == 0, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("training on the labelled statements of") and "1 process " in first


def test_the_labels_setting_is_what_train_learns_and_what_a_run_counts_as_labelled(tmp_path):
    # TOPICS_LABELS used to reach only the dashboard's Retrain: `train` went on learning the shipped
    # labels and a run counted the shipped texts as labelled, so a model and the store disagreed.
    labels = tmp_path / "mine"
    labels.mkdir()
    odd = "The weather in the capital was mild this morning."  # labelled trade here, which no model says
    rows = [{"text": f"tariffs on steel number {i}" if i % 2 else f"the weather is fine {i}", "lang": "en",
             "topics": ["trade"] if i % 2 else [], "date": "2025-01-01"} for i in range(80)]
    rows += [{"text": f"{w} statement {i}", "lang": "en", "topics": [t], "date": "2025-01-01"}
             for w, t in (("cartel violence", "security"), ("migrants at the border crossing", "migration"),
                          ("our sovereignty", "sovereignty")) for i in range(20)]
    rows.append({"text": odd, "lang": "en", "topics": ["trade"], "date": "2025-01-01"})
    (labels / "small.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    env = {"TOPICS_LABELS": str(labels)}

    model = tmp_path / "m" / "tagger.skops"
    r = run_cli("train", "--output", str(model), "--jobs", "1", env=env)
    assert r.returncode == 0, r.stderr
    assert str(labels) in r.stderr.splitlines()[0]
    assert json.loads(model.with_suffix(".json").read_text())["training_statements"] == len(rows)

    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "recs.jsonl").write_text(json.dumps({"date": "2025-03-03", "text": odd, "source": "Senate"}) + "\n"
                                      + json.dumps({"date": "2025-03-03", "text": "Tariffs on steel.",
                                                    "source": "Senate"}) + "\n")
    store = tmp_path / "s"
    r = run_cli("run", "--input", str(inbox), "--store", str(store), "--no-snapshots", env=env)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(store / "tracker.db") as conn:
        gold = dict(conn.execute("SELECT text, gold_mask FROM statements").fetchall())
        trade_bit = conn.execute("SELECT topic_id FROM topics WHERE name = 'trade'").fetchone()[0]
    assert gold == {odd: 1 << trade_bit, "Tariffs on steel.": None}
    # Without the setting the same text is not in the (shipped) labelled set.
    r = run_cli("run", "--input", str(inbox), "--store", str(tmp_path / "s2"), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(tmp_path / "s2" / "tracker.db") as conn:
        assert conn.execute("SELECT gold_mask FROM statements WHERE text = ?", (odd,)).fetchone() == (None,)


def test_a_labels_setting_that_names_no_folder_stops_a_run_before_it_stores(tmp_path):
    missing = tmp_path / "lables"  # a typo: the run would count no statement as labelled
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "s"), env={"TOPICS_LABELS": str(missing)})
    assert r.returncode == 2 and f"{missing}: not a folder" in r.stderr and "TOPICS_LABELS" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "s").exists()


@pytest.mark.parametrize("option,missing", [("--model", "tagger.skops"), ("--topics", "topics.toml")])
def test_a_run_that_cannot_tag_leaves_no_empty_store_behind(option, missing, tmp_path):
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "s"), option, str(tmp_path / missing))
    assert r.returncode == 1 and str(tmp_path / missing) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s").exists()


def test_a_run_with_a_damaged_model_file_leaves_no_empty_store_behind(tmp_path):
    # A model file cut short (a copy that stopped, a full disk) was found only once the store
    # was made: the run failed leaving an empty store folder, and no run in its log.
    damaged = tmp_path / "tagger.skops"
    damaged.write_bytes((ROOT / "pipeline" / "models" / "tagger.skops").read_bytes()[:100_000])
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "s"), "--model", str(damaged))
    _one_error_line(r, damaged, "not a skops model file (File is not a zip file)", 1)
    assert not (tmp_path / "s").exists()


def test_evaluate_says_which_gold_topics_the_model_does_not_tag(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "tariffs on steel", "topics": ["trade", "weather"], "lang": "en"}\n'
                    '{"text": "hello", "topics": [], "lang": "en"}\n')
    r = run_cli("evaluate", "--gold", str(gold))
    assert r.returncode == 0, r.stderr
    assert "topics the model does not tag are not scored: weather" in r.stderr


def test_evaluate_shows_a_dash_for_a_topic_with_no_gold_and_no_tags(tmp_path):
    # Two English statements, one about tariffs: migration is in neither and the model tags
    # neither with it, so its F1 is undefined (a printed 0.000 read as "always wrong").
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "We will put tariffs on steel and aluminum imports.", "topics": ["trade"], '
                    '"lang": "en"}\n'
                    '{"text": "Thank you all for coming today.", "topics": [], "lang": "en"}\n')
    r = run_cli("evaluate", "--gold", str(gold))
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.startswith("  ") and ln.split()}
    assert lines["migration"].split()[1:4] == ["—", "—", "—"], lines["migration"]
    assert "0.000" not in lines["migration"]
    assert float(lines["trade"].split()[3]) == 1.0  # the topic it has is scored as usual
    assert "migration" in r.stdout.split("so its F1 is undefined")[0].splitlines()[-1]


def test_tag_stopped_while_writing_leaves_the_earlier_output_whole(tmp_path):
    # `tag --explain` over many statements writes for seconds; a SIGTERM then must neither leave
    # half a file where the user's earlier output was nor a partial file beside it.
    src = tmp_path / "in.txt"
    src.write_text("\n".join(f"Tariffs on steel, fentanyl at the border and migrants, day {i}." for i in range(20000)))
    out = tmp_path / "tags.jsonl"
    out.write_text('{"id": "earlier"}\n')
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "tag", "--explain", "--input", str(src),
                             "--output", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = tmp_path / "tags.jsonl.part"
    for _ in range(600):  # up to 60 s for the model to load and the writing to start
        if part.exists() and part.stat().st_size > 0:
            break
        if proc.poll() is not None:
            pytest.fail(f"tag ended before it was stopped: {proc.communicate()[1].decode()}")
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("tag never started writing")
    proc.terminate()
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert out.read_text() == '{"id": "earlier"}\n'
    assert not part.exists()


def test_an_output_path_under_a_file_says_that_file_is_no_folder(small_store, tmp_path):
    # It said "folder notes.txt does not exist" of a file that does exist.
    notes = tmp_path / "notes.txt"
    notes.write_text("kept")
    for command, out in ((("export", "--store", str(small_store)), notes / "x.csv"),
                         (("labels", "export", "--store", str(small_store)), notes / "sub" / "l.jsonl"),
                         (("tag", "--input", str(SEED_FILE)), notes / "t.jsonl")):
        r = run_cli(*command, "--output", str(out))
        _one_error_line(r, out, f"{notes} is a file, not a folder", 2)
    r = run_cli("snapshot", "--all", "--store", str(small_store), "--out", str(notes / "briefs"))
    _one_error_line(r, notes / "briefs", f"{notes} is a file, not a folder", 1)  # it said "Not a directory"
    assert notes.read_text() == "kept"
