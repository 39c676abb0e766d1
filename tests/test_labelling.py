"""The label log: corrections appended, never changed; replayed into labels; trained on (minus the
audit sample); a retrain that re-tags beside the served tags; versions compared."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest

from pipeline import labelling
from pipeline import store as st
from pipeline.errors import StoreBusyError
from tests.conftest import SEED_FILE, run_cli


def _statement(store, topic: str, has: bool) -> tuple[str, str]:
    """A stored statement (id, text) that the model tagged with ``topic`` (``has``) or not."""
    conn = st.open_readonly(store)
    try:
        bit = st.topic_bits(conn)[topic]
        return conn.execute(f"SELECT statement_id, text FROM statements WHERE ((topic_mask >> {bit}) & 1) = ? "
                            "AND length(text) > 80 ORDER BY statement_id LIMIT 1", (int(has),)).fetchone()
    finally:
        conn.close()


def small_labels(tmp_path, n_random: int = 240, per_topic: int = 40, seed: int = 1):
    """A small labels folder from the shipped labels (enough positives per topic to train on fast)."""
    from pipeline.settings import LABELS_DIR
    from pipeline.tagger.train import label_files, load_labelled

    rows = load_labelled(label_files(LABELS_DIR))
    rng = random.Random(seed)
    picked = {id(r): r for r in rng.sample(rows, n_random)}
    for topic in ("security", "trade", "migration", "sovereignty"):
        pos = [r for r in rows if topic in r["topics"]]
        picked.update({id(r): r for r in rng.sample(pos, per_topic)})
    folder = tmp_path / "labels"
    folder.mkdir()
    labelling.write_label_file(list(picked.values()), folder / "sample.jsonl")
    return folder


def test_the_log_refuses_update_and_delete(seed_store_copy):
    sid, _ = _statement(seed_store_copy, "trade", True)
    eid = labelling.record(seed_store_copy, sid, "trade", False, who="ana")
    assert eid is not None
    conn = sqlite3.connect(st.db_path(seed_store_copy))
    for sql in ("UPDATE label_events SET new = 1 WHERE event_id = ?", "DELETE FROM label_events WHERE event_id = ?"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql, (eid,))
    assert conn.execute("SELECT new, who, source FROM label_events").fetchall() == [(0, "ana", "correction")]
    conn.close()


def test_corrections_replay_into_labels_and_export(seed_store_copy, tmp_path):
    store = seed_store_copy
    sid, text = _statement(store, "trade", True)
    other, _ = _statement(store, "migration", False)
    labelling.set_topics(store, sid, ["security"], who="ana", note="not trade")  # removes trade, adds security
    labelling.record(store, other, "migration", True, who="luis")
    labelling.record(store, other, "migration", False, who="luis")  # changed their mind: a new event
    assert labelling.record(store, other, "migration", False, who="luis") is None  # nothing to change
    conn = st.open_readonly(store)
    labels = labelling.replay(conn)
    assert labels[sid].topics == ("security",) and labels[sid].who == "ana" and labels[sid].text == text
    assert "migration" not in labels[other].topics and labels[other].events == 2
    # Replaying the log up to an event gives the labels as they were then.
    first_three = labelling.replay(conn, until=3)
    assert "migration" in first_three[other].topics
    digest = labelling.events_hash(conn)
    conn.close()
    # The command line exports the same labels, deterministically.
    out = tmp_path / "labels.jsonl"
    r = run_cli("labels", "export", "--store", str(store), "--output", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r_["id"]: tuple(r_["topics"]) for r_ in rows} == {k: v.topics for k, v in labels.items()}
    r2 = run_cli("labels", "export", "--store", str(store), "--output", "-")
    assert r2.stdout == out.read_text()
    # A mistyped folder is a usage error naming it; no folder is made for it.
    typo = tmp_path / "lables" / "labels.jsonl"
    r3 = run_cli("labels", "export", "--store", str(store), "--output", str(typo))
    assert r3.returncode == 2 and "does not exist" in r3.stderr and not typo.parent.exists()
    # Another extension is a usage error: written as JSON Lines anyway, a labels.csv was never trained on.
    r4 = run_cli("labels", "export", "--store", str(store), "--output", str(tmp_path / "labels.csv"))
    assert r4.returncode == 2 and "labels.csv" in r4.stderr and "FILE.jsonl" in r4.stderr
    assert not (tmp_path / "labels.csv").exists()
    conn = st.open_readonly(store)
    assert labelling.events_hash(conn) == digest
    conn.close()


def test_a_correction_while_a_run_writes_says_the_store_is_busy(seed_store_copy):
    sid, _ = _statement(seed_store_copy, "trade", True)
    blocker = sqlite3.connect(st.db_path(seed_store_copy), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # what a run's write transaction holds
    try:
        with pytest.raises(StoreBusyError, match="busy"):
            labelling.record(seed_store_copy, sid, "trade", False, who="ana")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    conn = st.open_readonly(seed_store_copy)
    assert labelling.replay(conn) == {}
    conn.close()


def test_the_queue_offers_uncertain_statements_without_near_duplicates(seed_store_copy):
    conn = st.open_readonly(seed_store_copy)
    items = labelling.queue(conn, "trade", 0.4, 20)
    assert len(items) == 20
    assert all(abs(i["score"] - 0.4) <= 0.2 for i in items)
    toks = [labelling._tokens(i["text"]) for i in items]
    assert not any(labelling.near_duplicate(a, b) for k, a in enumerate(toks) for b in toks[k + 1:])
    conn.close()
    # A statement once judged leaves the queue.
    labelling.record(seed_store_copy, items[0]["statement_id"], "trade", True, who="ana", source="queue")
    conn = st.open_readonly(seed_store_copy)
    assert items[0]["statement_id"] not in {i["statement_id"] for i in labelling.queue(conn, "trade", 0.4, 20)}
    conn.close()


def test_pick_uncertain_drops_near_duplicates_and_skipped_texts():
    items = [("a", "the border wall with mexico is done", 0.51), ("b", "The border wall with Mexico is done.", 0.5),
             ("c", "tariffs on steel", 0.3), ("d", "audit text here", 0.49), ("e", "far away", 0.99)]
    got = labelling.pick_uncertain(items, 0.5, 3, skip={"audit text here"})
    assert [g[0] for g in got] == ["b", "c", "e"]


def test_an_audit_round_leaves_out_statements_in_the_log(seed_store_copy):
    from pipeline import audit

    conn = st.open_readonly(seed_store_copy)
    sources = [r[0] for r in conn.execute("SELECT DISTINCT source FROM statements")]
    everything = {s: 10**6 for s in sources}
    before, _ = audit.draw(conn, everything, seed=1, exclude=set())
    conn.close()
    sid, text = _statement(seed_store_copy, "trade", True)
    assert audit.text_key(text) in {audit.text_key(r["text"]) for r in before}
    labelling.record(seed_store_copy, sid, "trade", False, who="ana")
    conn = st.open_readonly(seed_store_copy)
    after, info = audit.draw(conn, everything, seed=1, exclude=set())
    conn.close()
    assert audit.text_key(text) not in {audit.text_key(r["text"]) for r in after}
    assert len(after) < len(before) and "label log" in info["excluded"]


def test_train_with_the_log_drops_audit_texts_and_records_the_events(seed_store_copy, tmp_path):
    from pipeline.audit import SAMPLE_FILE

    store = seed_store_copy
    # A stored statement whose text is in the audit sample: its correction must not be trained on.
    audit_texts = {json.loads(x)["text"] for x in SAMPLE_FILE.read_text().splitlines() if x.strip()}
    conn = sqlite3.connect(st.db_path(store), isolation_level=None)
    sid_a, sid_b = [r[0] for r in conn.execute("SELECT statement_id FROM statements ORDER BY sid LIMIT 2")]
    conn.execute("UPDATE statements SET text = ? WHERE statement_id = ?", (sorted(audit_texts)[0], sid_a))
    conn.close()
    labelling.record(store, sid_a, "security", True, who="ana")
    labelling.record(store, sid_b, "sovereignty", True, who="ana")
    labels = small_labels(tmp_path)
    model = tmp_path / "m" / "tagger.skops"
    r = run_cli("train", "--with-log", "--store", str(store), "--labels", str(labels), "--output", str(model),
                "--jobs", "1")
    assert r.returncode == 0, r.stderr
    assert "dropped 1 whose text is in the audit sample" in r.stdout, r.stdout
    written = [json.loads(x) for x in (labels / "corrections.jsonl").read_text().splitlines()]
    assert [w["id"] for w in written] == [sid_b] and "sovereignty" in written[0]["topics"]
    info = json.loads(model.with_suffix(".json").read_text())
    conn = st.open_readonly(store)
    assert info["label_log"]["events_hash"] == labelling.events_hash(conn)[0]
    conn.close()
    assert "corrections.jsonl" in info["label_files"]
    version = info["version"]
    # Replaying the same log gives the same labels file and, trained again, the same model version.
    before = (labels / "corrections.jsonl").read_bytes()
    r = run_cli("train", "--with-log", "--store", str(store), "--labels", str(labels), "--output",
                str(tmp_path / "m2" / "tagger.skops"), "--jobs", "1")
    assert r.returncode == 0, r.stderr
    assert (labels / "corrections.jsonl").read_bytes() == before
    assert json.loads((tmp_path / "m2" / "tagger.json").read_text())["version"] == version


def test_retrain_with_a_gold_file_that_is_not_there_stops_before_training(tmp_path):
    """Only the default evaluation set may be absent; one the user named is checked first."""
    st_dir = tmp_path / "store"
    assert run_cli("run", "--input", str(SEED_FILE), "--store", str(st_dir), "--no-snapshots").returncode == 0
    labels = tmp_path / "labels"
    labels.mkdir()
    missing = tmp_path / "nonexist.jsonl"
    r = run_cli("retrain", "--store", str(st_dir), "--gold", str(missing), "--labels", str(labels),
                "--model", str(tmp_path / "model.skops"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == f"error: {missing}: no such file" and r.stdout == ""
    assert not labelling.status_path(st_dir).exists() and list(labels.iterdir()) == []


def test_of_two_statements_with_one_text_the_later_correction_is_the_label(seed_store_copy, tmp_path):
    """Two statements with the same words, corrected differently: the export and the training labels
    kept the label of the statement corrected first *for the first time* (ana's migration, her latest
    reading, lost to luis's earlier trade). The latest correction of the text gives its label."""
    store = seed_store_copy
    conn = sqlite3.connect(st.db_path(store), isolation_level=None)
    a, b = [r[0] for r in conn.execute("SELECT statement_id FROM statements ORDER BY sid LIMIT 2")]
    conn.execute("UPDATE statements SET text = ? WHERE statement_id IN (?, ?)",
                 ("Tariffs on the border crossing were raised again this week by the two governments.", a, b))
    conn.close()
    labelling.set_topics(store, a, ["security"], who="ana")
    labelling.set_topics(store, b, ["trade"], who="luis")
    labelling.set_topics(store, a, ["migration"], who="ana")
    conn = st.open_readonly(store)
    rows = labelling.export_labels(conn)
    conn.close()
    assert [(r["id"], r["topics"], r["labeller"]) for r in rows] == [(a, ["migration"], "log:ana")]
    labelling.log_training_labels(store, tmp_path, gold=tmp_path / "no-gold.jsonl")
    written = [json.loads(x) for x in (tmp_path / labelling.CORRECTIONS_FILE).read_text().splitlines()]
    assert [w["topics"] for w in written] == [["migration"]]


def test_the_retrain_status_says_how_many_corrections_were_not_trained_on(seed_store_copy, tmp_path):
    """The dashboard's Retrain shows retrain.json's message: it said only "model X serves the store",
    so a user whose correction of an audit text was dropped was never told."""
    from pipeline.audit import SAMPLE_FILE
    from pipeline.settings import DEFAULT_TOPICS

    store = seed_store_copy
    audit_text = json.loads(SAMPLE_FILE.read_text().splitlines()[0])["text"]
    conn = sqlite3.connect(st.db_path(store), isolation_level=None)
    sid_a, sid_b = [r[0] for r in conn.execute("SELECT statement_id FROM statements ORDER BY sid LIMIT 2")]
    conn.execute("UPDATE statements SET text = ? WHERE statement_id = ?", (audit_text, sid_a))
    conn.execute("UPDATE statements SET text = ? WHERE statement_id = ?",
                 ("Tariffs on the border crossing were raised again this week by the two governments.", sid_b))
    conn.close()
    labelling.set_topics(store, sid_a, ["trade"], who="ana")
    labelling.set_topics(store, sid_b, ["trade"], who="ana")
    labelling.retrain(store, labels_dir=small_labels(tmp_path), topics_path=DEFAULT_TOPICS,
                      model_path=tmp_path / "m" / "tagger.skops", gold=tmp_path / "no-gold.jsonl", jobs=1)
    status = labelling.read_status(store)
    assert status["state"] == "done"
    assert status["message"].endswith("; 1 corrected statement was not trained on (text in the audit sample: 1, "
                                      "in the evaluation set: 0)"), status["message"]


def test_a_retrain_killed_while_re_tagging_leaves_the_model_that_tagged_the_store(seed_store_copy, tmp_path):
    """Retrain wrote the new model over the model file before re-tagging: killed during the re-tag,
    the store served the old tags while every reader used the new model (the review queue's
    thresholds, corrected shares: 'statements were tagged by another model', and `run` re-tagged
    the store with a model never swapped in). The model file is replaced only after the swap."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from pipeline.tagger import DEFAULT_MODEL, model_info
    from tests.conftest import ROOT

    store = seed_store_copy
    model = tmp_path / "m" / "tagger.skops"
    model.parent.mkdir()
    for f in DEFAULT_MODEL.parent.glob("tagger.*"):
        (model.parent / f.name).write_bytes(f.read_bytes())
    before = model.read_bytes()
    served = model_info(model).version
    labels = small_labels(tmp_path)
    args = [sys.executable, "-m", "pipeline", "retrain", "--store", str(store), "--model", str(model),
            "--labels", str(labels), "--jobs", "1"]
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            s = labelling.read_status(store) or {}
            if s.get("state") == "retagging" and 0 < int(s.get("done") or 0) < int(s.get("total") or 0):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the retrain ended before it was caught re-tagging"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert model.read_bytes() == before and model_info(model).version == served
    conn = st.open_readonly(store)
    assert [v for (v,) in conn.execute("SELECT DISTINCT model_version FROM statements")] == [served]
    conn.close()
    assert labelling.read_status(store)["state"] == "failed"
    # Started again, it finishes the re-tag and only then puts the new model in place.
    r = run_cli(*args[3:])
    assert r.returncode == 0, r.stderr
    new = model_info(model).version
    conn = st.open_readonly(store)
    assert new != served and [v for (v,) in conn.execute("SELECT DISTINCT model_version FROM statements")] == [new]
    conn.close()
    assert not labelling.staged_path(model).exists()
