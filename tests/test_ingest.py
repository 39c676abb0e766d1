"""Runs into a real store: idempotence, changed files, duplicates, refusals, status and export."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
import time
from pathlib import Path

from pipeline import queries, store
from tests.conftest import CONF_0112, SEED_FILE, SEEDS, run_cli


def _count(store_dir, sql="SELECT COUNT(*) FROM statements"):
    with sqlite3.connect(store.db_path(store_dir)) as c:
        return c.execute(sql).fetchone()[0]


def test_seed_store_has_the_demo_data(seed_store):
    conn = store.open_readonly(seed_store)
    info = queries.status(conn)
    assert info["documents"] == 372  # 195 conferences, 176 White House documents, the seed
    assert set(info["by_source"]) == {"Mexican presidency", "White House"}
    assert info["first_date"] == "2025-01-20" and info["last_date"] == "2026-03-31"
    assert all(v > 0 for v in info["by_topic"].values())
    row = conn.execute("SELECT COUNT(DISTINCT week) FROM statements WHERE date BETWEEN '2025-12-01' AND "
                       "'2026-03-31' AND source = 'Mexican presidency'").fetchone()
    assert row[0] >= 12


def test_the_12_january_conference_in_the_store(seed_store):
    conn = store.open_readonly(seed_store)
    doc = conn.execute("SELECT doc_id, date, source, lang, n_statements FROM documents WHERE path LIKE ?",
                       (f"%{CONF_0112.name}",)).fetchone()
    assert doc[1:4] == ("2026-01-12", "Mexican presidency", "es")
    first = conn.execute("SELECT speaker, role, text FROM statements WHERE doc_id = ? ORDER BY position LIMIT 1",
                         (doc[0],)).fetchone()
    assert first == ("Claudia Sheinbaum Pardo", "head of state", "¿Cómo están?")
    df, n = queries.statements(conn, queries.Filters(search='"integridad territorial"',
                                                       date_from=None), topic=None)
    assert n >= 1
    hit = df[df["text"].str.contains("está la soberanía de México y la integridad territorial")]
    assert list(hit["topics"].iloc[0]) == ["sovereignty"]


def test_rerun_adds_nothing_and_rewrites_nothing(seed_store_copy):
    before = _count(seed_store_copy)
    db = store.db_path(seed_store_copy)
    r = run_cli("run", "--input", str(SEEDS), "--store", str(seed_store_copy), "--no-snapshots", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["files_new"] == 0 and s["files_changed"] == 0 and s["statements_added"] == 0
    assert s["files_unchanged"] == s["files_considered"] == 372
    assert s["files_read"] == 0  # their size and modification time spared every read
    assert _count(seed_store_copy) == before
    assert db.exists()


def _one_conference_store(tmp_path):
    """An inbox with a copy of the 12 January conference, run once into a new store."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    doc = inbox / "conf.txt"
    shutil.copy(CONF_0112, doc)
    st_dir = tmp_path / "store"
    assert run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots").returncode == 0
    return inbox, doc, st_dir


def test_changed_file_replaces_its_statements_and_duplicates_are_not_stored(tmp_path):
    inbox, doc, st_dir = _one_conference_store(tmp_path)
    n1 = _count(st_dir)
    # The same content under another name: remembered, not stored twice.
    shutil.copy(CONF_0112, inbox / "copy-of-conf.txt")
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--json")
    s = json.loads(r.stdout)
    assert s["statements_added"] == 0 and s["files_unchanged"] == 1 and s["files_duplicate"] == 1
    assert _count(st_dir) == n1
    # The same name with changed content: its old statements are replaced, not added to.
    text = CONF_0112.read_text()
    doc.write_text(text.replace("¿Cómo están?", "¿Cómo están todos?", 1))
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--json")
    s = json.loads(r.stdout)
    assert s["files_changed"] == 1 and s["statements_removed"] == 0  # the copy still holds the old text
    assert _count(st_dir) == 2 * n1
    (inbox / "copy-of-conf.txt").unlink()
    doc.write_text(text.replace("¿Cómo están?", "¿Qué tal?", 1))
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--json")
    s = json.loads(r.stdout)
    assert s["statements_removed"] == n1 and _count(st_dir) == 2 * n1
    assert _count(st_dir, "SELECT COUNT(*) FROM statements WHERE text = '¿Qué tal?'") == 1
    assert _count(st_dir, "SELECT SUM(n) FROM daily") == 2 * n1  # the daily counts follow replacements
    assert _count(st_dir, "SELECT SUM(n) FROM speakers") == _count(st_dir, "SELECT COUNT(*) FROM statements "
                                                                    "WHERE speaker != ''")
    assert _count(st_dir, "SELECT COUNT(*) FROM statements_fts") == 2 * n1  # and so does the search index
    conn = store.open_readonly(st_dir)
    assert queries.statements(conn, queries.Filters(search='"Qué tal"'))[1] == 1


def test_refused_files_are_reported_and_the_run_goes_on(tmp_path):
    inbox = tmp_path / "in"
    (inbox / "deep" / "er").mkdir(parents=True)
    shutil.copy(SEED_FILE, inbox / "deep" / "er" / "seed.txt")
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "nodate.txt").write_text("Some words\nmore words\n")
    (inbox / "recs.jsonl").write_text('{"date": "2025-03-03", "text": "Tariffs on steel."}\n{"date": "x"}\n')
    st_dir = tmp_path / "store"
    r = run_cli("run", "--input", str(inbox), str(tmp_path / "nope"), "--store", str(st_dir), "--no-snapshots")
    assert r.returncode == 3, r.stdout + r.stderr
    out = r.stdout
    assert "empty.txt: empty file" in out
    assert "nodate.txt: unknown format" in out
    assert "recs.jsonl:2: missing text" in out
    assert "nope: path does not exist" in out
    assert _count(st_dir) == 23 + 1
    status = json.loads(run_cli("status", "--store", str(st_dir), "--json").stdout)
    reasons = {x["reason"] for x in status["runs"][0]["refused"]}
    assert {"empty file: nothing to read", "path does not exist", "missing text"} <= reasons


def test_usage_errors_exit_2(tmp_path):
    r = run_cli("run", "--store", str(tmp_path / "s"))
    assert r.returncode == 2 and "--input" in r.stderr
    r = run_cli("status", "--store", str(tmp_path / "nothing-here"))
    assert r.returncode == 1 and "no store here" in r.stderr
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(tmp_path / "s"), "--format", "pdf")
    assert r.returncode == 2


def test_status_and_export(seed_store, tmp_path):
    r = run_cli("status", "--store", str(seed_store))
    assert r.returncode == 0 and "documents: 372" in r.stdout
    # The store's id, as citations and briefs name it, and topic counts said to be as tagged.
    conn = store.open_readonly(seed_store)
    store_id = store.read_store_id(conn)
    conn.close()
    assert f"   id: {store_id}" in r.stdout.splitlines()[0] and "per topic (as tagged): " in r.stdout
    assert json.loads(run_cli("status", "--store", str(seed_store), "--json").stdout)["store_id"] == store_id
    total = _count(seed_store)
    out = tmp_path / "all.jsonl"
    assert run_cli("export", "--store", str(seed_store), "--output", str(out)).returncode == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == total
    assert {"statement_id", "doc_id", "date", "source", "lang", "speaker_raw", "speaker", "role", "position",
            "text", "topics", "scores", "url"} <= set(rows[0])
    out_csv = tmp_path / "jan.csv"
    r = run_cli("export", "--store", str(seed_store), "--output", str(out_csv), "--since", "2026-01-12",
                "--until", "2026-01-12")
    assert r.returncode == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert {x["date"] for x in rows} == {"2026-01-12"}
    assert len(rows) == _count(seed_store, "SELECT COUNT(*) FROM statements WHERE date = '2026-01-12'")


def test_a_new_model_retags_the_store_and_keeps_counts_consistent(seed_store_copy):
    """Statements tagged by another model version are re-tagged by the next run."""
    db = store.db_path(seed_store_copy)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE statements SET model_version = 'old', topic_mask = 0 WHERE date LIKE '2026-01-%'")
        stale = c.execute("SELECT COUNT(*) FROM statements WHERE model_version = 'old'").fetchone()[0]
    store.rebuild_daily(store.open_store(seed_store_copy))
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(seed_store_copy), "--no-snapshots", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["statements_retagged"] == stale > 0
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM statements WHERE model_version = 'old'").fetchone()[0] == 0
        facets = "day, source, lang, role, topic_mask"
        assert c.execute(f"SELECT {facets}, COUNT(*) FROM statements GROUP BY {facets}").fetchall() == \
            c.execute(f"SELECT {facets}, n FROM daily ORDER BY {facets}").fetchall()
        assert c.execute("SELECT COUNT(*) FROM statements WHERE date LIKE '2026-01-%' AND topic_mask > 0"
                         ).fetchone()[0] > 100
        kept = [sorted(c.execute(f"SELECT * FROM {t}")) for t in ("daily_scores", "score_hist")]
    # The score sums the re-tag kept up to date equal a recount from the statements (workers
    # compute them in Python; the recount is SQL).
    store.rebuild_daily(store.open_store(seed_store_copy))
    with sqlite3.connect(db) as c:
        fresh = [sorted(c.execute(f"SELECT * FROM {t}")) for t in ("daily_scores", "score_hist")]
    assert kept[1] == fresh[1]
    assert [r[:-2] for r in kept[0]] == [r[:-2] for r in fresh[0]]
    assert all(abs(a[-2] - b[-2]) < 1e-6 and abs(a[-1] - b[-1]) < 1e-6 for a, b in zip(kept[0], fresh[0]))


def test_unchanged_size_and_mtime_skip_hashing_and_rehash_checks_content(tmp_path):
    import os

    inbox, doc, st_dir = _one_conference_store(tmp_path)
    size, mtime = _count(st_dir, "SELECT size FROM files"), _count(st_dir, "SELECT mtime_ns FROM files")
    assert (size, mtime) == (doc.stat().st_size, doc.stat().st_mtime_ns)

    def run(*extra):
        r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--json", *extra)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    # Touched, same content: unchanged, and the new mtime is remembered.
    os.utime(doc, ns=(mtime + 10**9, mtime + 10**9))
    assert run()["files_unchanged"] == 1
    assert _count(st_dir, "SELECT mtime_ns FROM files") == mtime + 10**9
    # Same size, same mtime, other content (a clock-restoring copy tool could do this): skipped by
    # the stat check, caught by --rehash.
    text = CONF_0112.read_text()
    doc.write_text(text.replace("¿Cómo están?", "¿Cómo estás?", 1))
    assert doc.stat().st_size == size
    os.utime(doc, ns=(mtime + 10**9, mtime + 10**9))
    assert run()["files_unchanged"] == 1
    s = run("--rehash")
    assert s["files_changed"] == 1 and s["statements_removed"] == s["statements_added"] > 0
    assert _count(st_dir, "SELECT COUNT(*) FROM statements WHERE text = '¿Cómo estás?'") == 1


def test_paths_resolve_like_realpath_through_symlinks(tmp_path):
    import os

    from pipeline.ingest import _resolve

    real = tmp_path / "real" / "deep"
    real.mkdir(parents=True)
    (real / "a.txt").write_text("x")
    (tmp_path / "links").mkdir()
    os.symlink("../real/deep/a.txt", tmp_path / "links" / "rel.txt")        # relative link
    os.symlink(tmp_path / "links" / "rel.txt", tmp_path / "links" / "chain.txt")  # link to a link
    os.symlink(tmp_path / "real", tmp_path / "dirlink")                   # linked folder
    os.symlink("loop2", tmp_path / "links" / "loop1")
    os.symlink("loop1", tmp_path / "links" / "loop2")
    dirs: dict[str, str] = {}
    for p in ("links/rel.txt", "links/chain.txt", "dirlink/deep/a.txt", "real/deep/a.txt", "links/loop1",
              "real/deep/missing.txt"):
        assert _resolve(str(tmp_path / p), dirs) == os.path.realpath(tmp_path / p), p


def test_count_tables_missing_from_an_older_store_are_rebuilt_on_open(seed_store_copy):
    db = store.db_path(seed_store_copy)
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM daily")
        c.execute("DROP TABLE speakers")
    # The dashboard (read-only) still lists speakers from such a store before any run opens it.
    assert "Claudia Sheinbaum Pardo" in queries.facets(store.open_readonly(seed_store_copy))["speakers"]
    store.open_store(seed_store_copy).close()
    assert _count(seed_store_copy, "SELECT SUM(n) FROM daily") == _count(seed_store_copy)
    assert _count(seed_store_copy, "SELECT SUM(n) FROM speakers") == \
        _count(seed_store_copy, "SELECT COUNT(*) FROM statements WHERE speaker != ''")
    # Statements without any speaker (records files) still get their daily counts back.
    with sqlite3.connect(db) as c:
        c.execute("UPDATE statements SET speaker = ''")
        c.execute("DELETE FROM daily")
        c.execute("DELETE FROM speakers")
    store.open_store(seed_store_copy).close()
    assert _count(seed_store_copy, "SELECT SUM(n) FROM daily") == _count(seed_store_copy)


def _yaml_escaped(title: str) -> str:
    """A title as readers before 9cdc5e1 stored it: what is not ASCII as the files' ``\\xF3``,
    ``\\u2019`` or surrogate pair."""
    def one(c: str) -> str:
        n = ord(c)
        if n < 0x80:
            return c
        if n < 0x100:
            return f"\\x{n:02X}"
        if n < 0x10000:
            return f"\\u{n:04X}"
        n -= 0x10000
        return f"\\u{0xD800 + (n >> 10):04X}\\u{0xDC00 + (n & 0x3FF):04X}"
    return "".join(map(one, title))


def test_titles_stored_with_yaml_escapes_are_decoded_once(seed_store_copy):
    """A store filled before briefing titles were decoded keeps "Trump\\u2019s" (its files are not
    read again); the first run on it decodes them, and only them, once."""
    db = store.db_path(seed_store_copy)
    with sqlite3.connect(db) as c:
        titles = dict(c.execute("SELECT doc_id, title FROM documents"))
        assert c.execute("SELECT value FROM meta WHERE key = 'titles_decoded'").fetchone()  # a new store: done
        wanted = [r[0] for r in c.execute("SELECT doc_id FROM documents WHERE format = 'briefing' AND title "
                                          "GLOB '*[^ -~]*' ORDER BY instr(title, '-') = 0, doc_id LIMIT 4")]
        assert len(wanted) == 4
        conference = c.execute("SELECT doc_id FROM documents WHERE format = 'stenographic' LIMIT 1").fetchone()[0]
        old = {d: _yaml_escaped(titles[d]) for d in wanted}
        old[wanted[0]] = old[wanted[0]].replace("-", "-\\u2060", 1)  # "COVID-\\u206019"
        old[wanted[1]] += " \\uD83C\\uDDFA\\uD83C\\uDDF8 \\U0001F600"  # stands for " 🇺🇸 😀"
        old[conference] = titles[conference] + " \\u00e9"  # not a briefing: kept as it is
        c.executemany("UPDATE documents SET title = ? WHERE doc_id = ?", [(t, d) for d, t in old.items()])
        c.execute("DELETE FROM meta WHERE key = 'titles_decoded'")
        assert all("\\u" in old[d] or "\\x" in old[d] for d in wanted)

    r = run_cli("run", "--input", str(SEEDS), "--store", str(seed_store_copy), "--no-snapshots", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files_changed"] == 0  # nothing was read again
    with sqlite3.connect(db) as c:
        after = dict(c.execute("SELECT doc_id, title FROM documents"))
        done = c.execute("SELECT value FROM meta WHERE key = 'titles_decoded'").fetchone()[0]
    assert after[wanted[1]] == titles[wanted[1]] + " 🇺🇸 😀"
    assert after[conference] == old[conference]
    assert {d: t for d, t in after.items() if d not in (wanted[1], conference)} == \
        {d: t for d, t in titles.items() if d not in (wanted[1], conference)}
    assert done.endswith(" 4 titles")

    # Done once: a title written escaped now (by hand) is left alone, by a run or any other writer.
    with sqlite3.connect(db) as c:
        c.execute("UPDATE documents SET title = ? WHERE doc_id = ?", (old[wanted[2]], wanted[2]))
    assert run_cli("run", "--input", str(SEEDS), "--store", str(seed_store_copy), "--no-snapshots").returncode == 0
    store.open_store(seed_store_copy).close()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT title FROM documents WHERE doc_id = ?", (wanted[2],)).fetchone()[0] == old[wanted[2]]
        assert c.execute("SELECT value FROM meta WHERE key = 'titles_decoded'").fetchone()[0] == done

    # The repair alone, by a writer that records no run (`retrain` opens the store so too), changes
    # the version the dashboard's caches key on.
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM meta WHERE key = 'titles_decoded'")
    version = queries.store_version(store.open_readonly(seed_store_copy))
    store.open_store(seed_store_copy).close()
    assert queries.store_version(store.open_readonly(seed_store_copy)) != version
    assert _count(seed_store_copy, f"SELECT title FROM documents WHERE doc_id = '{wanted[2]}'") == titles[wanted[2]]


def test_printed_time_is_the_whole_commands(tmp_path):
    """The time `run` reports covers the whole command (start-up, storing, weekly snapshots), as a
    stopwatch around it would: it used to leave out the snapshots and the start-up."""
    t0 = time.time()
    r = run_cli("run", "--input", str(SEEDS), "--store", str(tmp_path / "store"), "--json")
    wall = time.time() - t0
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["snapshots_written"]
    assert 0.85 * wall <= out["seconds"] <= wall
    r = run_cli("run", "--input", str(SEEDS), "--store", str(tmp_path / "store"))
    assert re.search(r"finished in [0-9.]+ s", r.stdout)


def test_source_option_does_not_change_briefing_speakers(tmp_path):
    """Speaker rules follow the reader's convention, not the source name: `run --source whitehouse.gov`
    on White House briefing markdown gives the speakers and roles a run without it gives."""
    wh = SEEDS / "whitehouse"
    files = [wh / "briefings-statements/2025-01/2025-01-29-press-briefing-by-press-secretary-karoline-leavitt.md",
             wh / "remarks/2025-01/2025-01-23-remarks-by-president-trump-at-executive-order-signing.md"]
    speakers = {}
    for name, extra in (("plain", []), ("renamed", ["--source", "whitehouse.gov"])):
        st_dir = tmp_path / name
        r = run_cli("run", "--input", *map(str, files), "--store", str(st_dir), "--no-snapshots", "--workers", "1",
                    *extra)
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(store.db_path(st_dir)) as c:
            speakers[name] = c.execute("SELECT doc_id, position, speaker_raw, speaker, role FROM statements "
                                       "ORDER BY doc_id, position").fetchall()
            sources = {s for (s,) in c.execute("SELECT DISTINCT source FROM statements")}
        assert sources == ({"whitehouse.gov"} if extra else {"White House"})
    assert speakers["renamed"] == speakers["plain"]
    found = {(sp, role) for _, _, _, sp, role in speakers["plain"]}
    assert {("Karoline Leavitt", "official"), ("Donald J. Trump", "head of state"), ("Press", "press")} <= found


# -- the run summary agrees with the store (QA items 2, 16, 19, 15, 11) ------------------------------
def _summary_and_status(st_dir, *inputs):
    r = run_cli("run", "--input", *map(str, inputs), "--store", str(st_dir), "--no-snapshots", "--json")
    assert r.returncode in (0, 3), r.stderr
    status = json.loads(run_cli("status", "--store", str(st_dir), "--json").stdout)
    return json.loads(r.stdout), status, r.returncode


def test_content_that_comes_twice_is_counted_once_and_the_summary_agrees_with_status(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(CONF_0112, inbox / "conf.txt")
    shutil.copy(SEED_FILE, inbox / "seed.txt")
    shutil.copy(SEED_FILE, inbox / "same-bytes.txt")  # another name, the same content
    # The folder, a file in it named again, and the same file twice more.
    s, status, rc = _summary_and_status(tmp_path / "store", inbox, inbox / "conf.txt", inbox / "seed.txt",
                                        inbox / "seed.txt")
    assert rc == 0
    assert (s["files_new"], s["files_duplicate"], s["files_considered"]) == (2, 4, 6)
    assert s["files_new"] == status["documents"]
    assert s["statements_added"] == status["statements"]
    assert s["topics_added"] == {t: n for t, n in status["by_topic"].items() if n}
    run = status["runs"][0]
    assert (run["files_new"], run["files_duplicate"], run["statements_added"]) == (2, 4, status["statements"])
    # The copy is remembered under its own name: the next run finds it unchanged.
    again, _, _ = _summary_and_status(tmp_path / "store", inbox)
    assert (again["files_unchanged"], again["files_duplicate"], again["files_considered"]) == (3, 0, 3)


def test_file_counts_add_up_whatever_is_refused(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(SEED_FILE, inbox / "seed.txt")
    (inbox / "empty.txt").write_bytes(b"")
    s, _, rc = _summary_and_status(tmp_path / "store", inbox, tmp_path / "nonexist.txt", "/dev/null")
    assert rc == 3
    assert (s["files_new"], s["files_refused"], s["files_read"]) == (1, 3, 2)
    parts = ("files_new", "files_changed", "files_unchanged", "files_duplicate", "files_refused")
    assert s["files_considered"] == sum(s[k] for k in parts) == 4
    r = run_cli("run", "--input", str(inbox), "--store", str(tmp_path / "store"), "--no-snapshots")
    assert "files: 2 = new 0 + changed 0 + unchanged 1 + duplicate 0 + refused 1   (read: 1)" in r.stdout


def test_files_of_no_known_format_are_named_and_a_folder_with_nothing_to_read_is_refused(tmp_path):
    inbox, empty = tmp_path / "in", tmp_path / "emptydir"
    inbox.mkdir()
    empty.mkdir()
    shutil.copy(SEED_FILE, inbox / "seed.txt")
    (inbox / "a.yaml").write_text("date: 2026-01-12\n")
    (inbox / "b.tsv").write_text("date\ttext\n")
    (inbox / "SOURCE").write_text("My Source\n")  # read as the folder's source, not skipped
    st_dir = tmp_path / "store"
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    assert "  skipped: 2 files of no known format (e.g. a.yaml, b.tsv); " in r.stdout
    r = run_cli("run", "--input", str(empty), "--store", str(st_dir), "--no-snapshots", "--json")
    assert r.returncode == 3
    s = json.loads(r.stdout)
    assert s["files_refused"] == s["files_considered"] == 1
    assert s["refused"][0]["path"] == str(empty)
    assert s["refused"][0]["reason"].startswith("no file to read in this folder (read are .csv, .jsonl")


def test_a_symlink_to_itself_in_a_folder_is_refused_with_a_reason(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(SEED_FILE, inbox / "seed.txt")
    (inbox / "loop2").symlink_to("loop2")
    (inbox / "gone.txt").symlink_to("nowhere.txt")
    s, _, rc = _summary_and_status(tmp_path / "store", inbox, inbox / "loop2")
    assert rc == 3
    reasons = {(r["path"], r["reason"]) for r in s["refused"]}
    assert reasons == {(str(inbox / "loop2"), "symlink loop: the link leads back to itself, skipped"),
                       # (it said "cannot read: ..." of a file its folder lists; named, it said this)
                       (str(inbox / "gone.txt"), "broken symlink: No such file or directory")}
    assert s["files_refused"] == 3 and s["files_new"] == 1  # the loop found in the folder and named


def test_a_new_source_for_unchanged_files_is_reported_not_silently_dropped(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(SEED_FILE, inbox / "seed.txt")
    (inbox / "SOURCE").write_text("My Source\n")
    st_dir = tmp_path / "store"
    assert run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots").returncode == 0
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--source", "Other")
    assert r.returncode == 0
    assert ("  source kept: 1 unchanged file stored with another source keeps it (e.g. seed.txt: "
            "'My Source', not 'Other'); ") in r.stdout
    (inbox / "SOURCE").write_text("Renamed Source\n")
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--json")
    assert json.loads(r.stdout)["source_kept"] == [{"path": str(inbox / "seed.txt"), "stored": "My Source",
                                                    "given": "Renamed Source"}]
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--source", "My Source")
    assert "source kept" not in r.stdout


def test_a_stored_file_later_emptied_is_refused_saying_its_statements_are_kept(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    f = inbox / SEED_FILE.name
    shutil.copy(SEED_FILE, f)
    s = str(tmp_path / "s")
    assert run_cli("run", "--input", str(inbox), "--store", s, "--no-snapshots").returncode == 0
    conn = store.open_readonly(s)
    before = queries.status(conn)["statements"]
    conn.close()
    f.write_text("")  # emptied (an editor crash, a failed copy)
    r = run_cli("run", "--input", str(inbox), "--store", s, "--no-snapshots")
    assert r.returncode == 3, r.stderr
    assert f"the {before:,} statements stored from its earlier version are kept" in r.stdout, r.stdout
    conn = store.open_readonly(s)
    assert queries.status(conn)["statements"] == before
    conn.close()


def test_a_batch_stores_files_as_they_come_and_keeps_none_of_them_when_rolled_back(tmp_path):
    # A run stores each file as its worker hands it over, in a transaction committed once per batch:
    # until the commit, other connections see nothing of the batch, and a batch rolled back (an error
    # or Ctrl-C while storing) leaves no statement, document, file or search entry behind.
    from pipeline.ingest import process_file
    from pipeline.settings import get as setting

    conn = store.open_store(tmp_path / "s")
    bits = store.ensure_topics(conn, [("security", ""), ("trade", ""), ("migration", ""), ("sovereignty", "")])
    run_id = store.start_run(conn, ["seeds"], "test")
    files = []
    for path in (CONF_0112, SEED_FILE):
        result, docs = process_file(str(path), path.read_bytes(), "auto", None, str(setting("model")), bits)
        files.append(store.FileWrite(str(path), result.file_hash, result.format, docs, None))
    expected = sum(len(dw.rows) for fw in files for dw in fw.documents)
    assert expected > 300

    def stored() -> tuple[int, int, int, int]:
        with sqlite3.connect(store.db_path(tmp_path / "s")) as other:
            return tuple(other.execute(sql).fetchone()[0] for sql in (
                "SELECT COUNT(*) FROM statements", "SELECT COUNT(*) FROM documents", "SELECT COUNT(*) FROM files",
                "SELECT COUNT(*) FROM statements_fts WHERE statements_fts MATCH 'trump'"))

    batch = store.FileBatch(conn, run_id)
    assert [batch.add(fw)[0] for fw in files] == [sum(len(dw.rows) for dw in fw.documents) for fw in files]
    assert stored() == (0, 0, 0, 0)  # not committed: invisible to readers
    batch.rollback()
    assert not batch.open and stored() == (0, 0, 0, 0)
    with sqlite3.connect(store.db_path(tmp_path / "s")) as other:
        assert other.execute("SELECT COUNT(*) FROM daily").fetchone()[0] == 0

    for fw in files:
        batch.add(fw)
    batch.commit({"statements_added": expected})
    n, docs, nfiles, hits = stored()
    assert (n, docs, nfiles) == (expected, 2, 2) and hits > 0
    with sqlite3.connect(store.db_path(tmp_path / "s")) as other:
        assert other.execute("SELECT SUM(n) FROM daily").fetchone()[0] == expected
    conn.close()


def test_a_model_without_its_compiled_form_is_compiled_once_before_the_workers_start(tmp_path):
    # A fresh clone's first run, or a model file copied in: the compiled form is written by one
    # process of its own before the workers start (each would otherwise import scikit-learn and
    # build it at once), and the run's own process, the writer, never imports scikit-learn.
    import subprocess
    import sys

    from pipeline.settings import get as setting
    from pipeline.tagger import compiled_path, model_info

    model = tmp_path / "m" / "tagger.skops"
    model.parent.mkdir()
    shipped = Path(setting("model"))
    shutil.copy(shipped, model)
    shutil.copy(shipped.with_suffix(".json"), model.with_suffix(".json"))
    compiled = compiled_path(model, model_info(model).version)
    assert not compiled.exists()
    probe = ("import sys; from pipeline.ingest import _compile_model; _compile_model(*sys.argv[1:]); "
             "print(any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", probe, str(model), model_info(model).version], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False" and compiled.exists()
    made = compiled.stat().st_mtime_ns
    # A run with two workers then loads it as it is, and stores as the shipped model does.
    conf = tmp_path / "in"
    conf.mkdir()
    shutil.copy(CONF_0112, conf / CONF_0112.name)
    shutil.copy(SEED_FILE, conf / SEED_FILE.name)
    r = run_cli("run", "--input", str(conf), "--store", str(tmp_path / "s"), "--model", str(model), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    assert compiled.stat().st_mtime_ns == made
    assert _count(tmp_path / "s") > 300


def test_a_task_tags_its_files_together_and_each_file_keeps_its_own_rows_and_errors(tmp_path):
    # A worker's task of a few files tags all their statements in one call (a call costs about a
    # millisecond whatever the batch): each file must still get exactly the rows it gets alone, and
    # a file that cannot be read must fail alone, named, between files that can.
    from pipeline.ingest import _work_all, process_file
    from pipeline.settings import get as setting

    bits = {"security": 0, "trade": 1, "migration": 2, "sovereignty": 3}
    model = str(setting("model"))
    wh = sorted((SEEDS / "whitehouse").rglob("*.md"))[:2]
    bad = tmp_path / "2026-01-05-emptied.md"
    bad.write_text("")
    paths = [CONF_0112, bad, *wh]
    outcomes = _work_all([(str(p), "auto", None, model, bits) for p in paths])

    assert [path for path, _ in outcomes] == [str(p) for p in paths]
    error = outcomes[1][1]
    assert isinstance(error, Exception) and error.path == str(bad)
    for p, (_, outcome) in zip(paths, outcomes):
        if p == bad:
            continue
        _, alone = process_file(str(p), p.read_bytes(), "auto", None, model, bits)
        _, together = outcome
        assert [dw.rows for dw in together] == [dw.rows for dw in alone]
        assert [dw.scores for dw in together] == [dw.scores for dw in alone]
    assert sum(len(dw.rows) for _, (_, docs) in [outcomes[0]] for dw in docs) > 300

    # With no model to tag with, every readable file fails on its own with the reason.
    gone = _work_all([(str(p), "auto", None, str(tmp_path / "no-model.skops"), bits) for p in wh])
    assert [path for path, _ in gone] == [str(p) for p in wh]
    assert all(isinstance(o, Exception) and "no-model.skops" in o.reason for _, o in gone)


def _length(text: str) -> int:
    return len(text)


def test_the_window_of_work_ahead_is_bounded_by_its_cost_and_by_its_count():
    """bounded_map hands the workers no more than ``budget`` of cost (or ``ahead`` items) beyond
    what has been taken back, yet always at least one item; results come in order. A window in
    items alone let short files leave the workers idle (BENCHMARKS.md, session 31)."""
    from pipeline.workers import bounded_map, worker_pool

    items = ["x" * n for n in (5, 5, 5, 40, 1, 1, 1, 1, 1, 1, 1, 1, 30, 2)]
    pulled: list[int] = []
    exhausted = []

    def feed():
        for i, item in enumerate(items):
            pulled.append(i)
            yield item
        exhausted.append(True)

    got, in_flight = [], []
    with worker_pool(2) as pool:
        for n in bounded_map(pool, _length, feed(), ahead=6, cost=len, budget=12):
            # In flight with the result now returned: the items taken from the feed and not yet
            # returned, but the newest while the feed lasts (it waits for room in the window).
            end = len(items) if exhausted else pulled[-1]
            in_flight.append(items[len(got):end])
            got.append(n)
    assert got == [len(x) for x in items]
    for window in in_flight:
        # never over the budget, unless one item alone is (40 and 30 go one at a time), nor over 6 items
        assert len(window) <= 6
        assert sum(map(len, window)) <= 12 or len(window) == 1
    # the cheap items went six at a time (the count bound), the dear ones alone
    assert max(len(w) for w in in_flight) == 6
    assert ["x" * 40] in in_flight and ["x" * 30] in in_flight
