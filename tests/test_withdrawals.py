"""Withdrawing a correction: an event in the append-only log that withdraws a person's earlier events
on a statement. Replayed, the statement has no label from them (as if never corrected, unless someone
else's events stand); the log keeps the history; export, training, the queue and the audit draw follow
the replay. Old stores (schema 1, whose log refuses the new event) are upgraded with every event kept."""

from __future__ import annotations

import json
import sqlite3

import pytest

from pipeline import labelling
from pipeline import store as st
from tests.conftest import run_cli
from tests.test_labelling import _statement

# The label log as schema 1 wrote it (pipeline/store.py before withdrawals).
V1_LOG = """
CREATE TABLE label_events(
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    statement_id TEXT NOT NULL, topic TEXT NOT NULL,
    old INTEGER NOT NULL, new INTEGER NOT NULL,
    who TEXT NOT NULL, at TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('correction', 'queue')),
    model_version TEXT, note TEXT NOT NULL DEFAULT '',
    shown TEXT NOT NULL,
    text TEXT NOT NULL, lang TEXT, date TEXT
);
CREATE INDEX label_events_statement ON label_events(statement_id);
CREATE TRIGGER label_events_no_update BEFORE UPDATE ON label_events BEGIN
    SELECT RAISE(ABORT, 'label_events is append-only: an event cannot be changed');
END;
CREATE TRIGGER label_events_no_delete BEFORE DELETE ON label_events BEGIN
    SELECT RAISE(ABORT, 'label_events is append-only: an event cannot be deleted');
END;
"""


def _replay(store) -> dict[str, labelling.Labels]:
    conn = st.open_readonly(store)
    try:
        return labelling.replay(conn)
    finally:
        conn.close()


def _model_topics(store, sid: str) -> tuple[str, ...]:
    conn = st.open_readonly(store)
    try:
        bits = st.topic_bits(conn)
        (mask,) = conn.execute("SELECT topic_mask FROM statements WHERE statement_id = ?", (sid,)).fetchone()
        return tuple(sorted(t for t, b in bits.items() if (mask >> b) & 1))
    finally:
        conn.close()


def _rows(store) -> list[tuple]:
    conn = sqlite3.connect(st.db_path(store))
    try:
        return conn.execute("SELECT * FROM label_events ORDER BY event_id").fetchall()
    finally:
        conn.close()


def test_a_withdrawal_leaves_the_statement_as_if_never_corrected_and_keeps_the_history(seed_store_copy):
    store = seed_store_copy
    sid, _ = _statement(store, "trade", True)
    other, _ = _statement(store, "migration", False)
    ids = labelling.set_topics(store, sid, ["security"], who="Ana")  # trade removed, security added
    kept = labelling.record(store, other, "migration", True, who="Ana")
    assert _replay(store)[sid].topics == ("security",)
    wid = labelling.withdraw(store, sid, who="  Ana ", note="clicked the wrong statement")
    assert wid is not None
    labels = _replay(store)
    assert sid not in labels  # no label from anyone: the model's tags stand
    assert labels[other].topics == tuple(sorted({*_model_topics(store, other), "migration"}))  # another statement
    # The history: Ana's events stay, and the withdrawal says who withdrew which events, when.
    conn = st.open_readonly(store)
    ev = labelling.events(conn)
    before = labelling.replay(conn, until=wid - 1)
    assert labelling.withdrawals(conn, [sid, other]) == {
        sid: [{"event_id": wid, "who": "Ana", "at": ev[0]["at"], "withdraws": sorted(ids)}]}
    conn.close()
    assert ev[0]["source"] == "withdrawal" and ev[0]["who"] == "Ana" and json.loads(ev[0]["withdraws"]) == ids
    assert ev[0]["note"] == "clicked the wrong statement"
    assert [e["event_id"] for e in ev] == [wid, kept, *sorted(ids, reverse=True)]
    assert before[sid].topics == ("security",)  # replayed up to before it, the correction stood
    # Nothing left to withdraw: no event.
    assert labelling.withdraw(store, sid, who="Ana") is None
    assert len(_rows(store)) == len(ev)
    # A correction after it starts from the model's tags again.
    model = _model_topics(store, sid)
    assert "trade" in model
    assert labelling.set_topics(store, sid, model, who="Luis") == []  # nothing changes: nothing recorded


def test_the_triggers_refuse_to_change_or_delete_a_withdrawal(seed_store_copy):
    sid, _ = _statement(seed_store_copy, "trade", True)
    labelling.record(seed_store_copy, sid, "trade", False, who="ana")
    wid = labelling.withdraw(seed_store_copy, sid, who="ana")
    conn = sqlite3.connect(st.db_path(seed_store_copy))
    for sql in ("UPDATE label_events SET withdraws = '[]' WHERE event_id = ?",
                "DELETE FROM label_events WHERE event_id = ?", "DELETE FROM label_events WHERE event_id < ?"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql, (wid,))
    conn.close()
    assert len(_rows(seed_store_copy)) == 2


def test_of_two_people_one_withdraws_and_the_others_events_stand(seed_store_copy):
    store = seed_store_copy
    sid, _ = _statement(store, "trade", True)
    model = _model_topics(store, sid)
    labelling.record(store, sid, "sovereignty", True, who="Ana")
    labelling.record(store, sid, "trade", False, who="Luis")
    labelling.record(store, sid, "security", True, who="Ana")
    got = _replay(store)[sid]
    assert got.by == ("Ana", "Luis") and got.who == "Ana"
    assert set(got.topics) == (set(model) - {"trade"}) | {"sovereignty", "security"}
    labelling.withdraw(store, sid, who="Ana")
    got = _replay(store)[sid]
    assert got.topics == tuple(sorted(set(model) - {"trade"})), "Luis's removal of trade stands, Ana's adds do not"
    assert got.by == ("Luis",) and got.who == "Luis" and got.events == 1
    assert labelling.withdraw(store, sid, who="Maria") is None  # she never labelled it
    labelling.withdraw(store, sid, who="Luis")
    assert sid not in _replay(store)


def test_withdraw_then_correct_again(seed_store_copy):
    store = seed_store_copy
    sid, _ = _statement(store, "trade", True)
    first = labelling.set_topics(store, sid, ["security"], who="Ana")
    w1 = labelling.withdraw(store, sid, who="Ana")
    again = labelling.set_topics(store, sid, ["migration", "trade"], who="Ana")
    model = _model_topics(store, sid)
    got = _replay(store)[sid]
    assert got.topics == ("migration", "trade") and got.who == "Ana" and got.events == len(again)
    assert got.topics != model
    # A second withdrawal withdraws only the events that stand: those made after the first.
    w2 = labelling.withdraw(store, sid, who="Ana")
    conn = st.open_readonly(store)
    ws = labelling.withdrawals(conn, [sid])[sid]
    conn.close()
    assert [(w["event_id"], w["withdraws"]) for w in ws] == [(w1, sorted(first)), (w2, sorted(again))]
    assert sid not in _replay(store)


def test_export_and_training_labels_leave_a_withdrawn_statement_out(seed_store_copy, tmp_path):
    store = seed_store_copy
    sid, _ = _statement(store, "trade", True)
    other, _ = _statement(store, "migration", False)
    labelling.set_topics(store, sid, ["security"], who="Ana")
    labelling.record(store, other, "migration", True, who="Luis")
    conn = st.open_readonly(store)
    digest, n, _ = labelling.events_hash(conn)
    conn.close()
    labelling.withdraw(store, sid, who="Ana")
    conn = st.open_readonly(store)
    assert [r["id"] for r in labelling.export_labels(conn)] == [other]
    digest2, n2, _ = labelling.events_hash(conn)
    conn.close()
    assert n2 == n + 1 and digest2 != digest  # a model trained on the log records that it changed
    log = labelling.log_training_labels(store, tmp_path, gold=tmp_path / "no-gold.jsonl")
    written = [json.loads(x) for x in (tmp_path / labelling.CORRECTIONS_FILE).read_text().splitlines()]
    assert [w["id"] for w in written] == [other] and log["statements"] == 1 and log["events_hash"] == digest2
    out = tmp_path / "labels.jsonl"
    r = run_cli("labels", "export", "--store", str(store), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [other]


def test_a_withdrawn_statement_is_back_in_the_queue_and_the_audit_frame(seed_store_copy):
    from pipeline import audit

    store = seed_store_copy
    conn = st.open_readonly(store)
    item = labelling.queue(conn, "trade", 0.4, 20)[0]
    conn.close()
    sid = item["statement_id"]
    labelling.record(store, sid, "trade", True, who="Ana", source="queue")
    conn = st.open_readonly(store)
    assert sid not in {i["statement_id"] for i in labelling.queue(conn, "trade", 0.4, 20)}
    assert audit.text_key(item["text"]) in labelling.logged_keys(conn)
    conn.close()
    labelling.withdraw(store, sid, who="Ana")
    conn = st.open_readonly(store)
    assert sid in {i["statement_id"] for i in labelling.queue(conn, "trade", 0.4, 20)}
    assert audit.text_key(item["text"]) not in labelling.logged_keys(conn)
    sources = [r[0] for r in conn.execute("SELECT DISTINCT source FROM statements")]
    drawn, _ = audit.draw(conn, {s: 10**6 for s in sources}, seed=1, exclude=set())
    conn.close()
    assert audit.text_key(item["text"]) in {audit.text_key(r["text"]) for r in drawn}


def _as_schema_1(store, events: list[tuple]) -> None:
    """Make ``store`` what schema 1 wrote: its log's table, triggers and ``schema_version`` 1."""
    conn = sqlite3.connect(st.db_path(store), isolation_level=None)
    conn.executescript("DROP TRIGGER label_events_no_update; DROP TRIGGER label_events_no_delete; "
                       "DROP TABLE label_events;" + V1_LOG
                       + "UPDATE meta SET value = '1' WHERE key = 'schema_version';")
    conn.executemany("INSERT INTO label_events(statement_id, topic, old, new, who, at, source, model_version, note, "
                     "shown, text, lang, date) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", events)
    conn.close()


def test_an_old_store_reads_as_before_and_is_upgraded_at_its_first_withdrawal(seed_store_copy):
    store = seed_store_copy
    sid, text = _statement(store, "trade", True)
    model = _model_topics(store, sid)
    _as_schema_1(store, [(sid, "trade", 1, 0, "Ana", "2026-01-01T00:00:00+00:00", "correction", "v", "",
                          json.dumps(list(model)), text, "en", "2026-01-01"),
                         (sid, "sovereignty", 0, 1, "Luis", "2026-01-02T00:00:00+00:00", "queue", "v", "n",
                          json.dumps(sorted(set(model) - {"trade"})), text, "en", "2026-01-01")])
    old_rows = _rows(store)
    conn = st.open_readonly(store)  # read only, not upgraded: the log reads as it did
    assert labelling.replay(conn)[sid].by == ("Ana", "Luis")
    assert labelling.withdrawals(conn, [sid]) == {} and len(labelling.events(conn)) == 2
    digest = labelling.events_hash(conn)
    conn.close()
    wid = labelling.withdraw(store, sid, who="Ana")
    assert wid == 3
    rows = _rows(store)
    assert [r[:-1] for r in rows[:2]] == old_rows and [r[-1] for r in rows[:2]] == [None, None]  # kept as they were
    got = _replay(store)[sid]
    assert got.by == ("Luis",) and got.topics == tuple(sorted({*model, "sovereignty"}))
    conn = st.open_readonly(store)
    assert labelling.events_hash(conn)[1] == 3 and digest[1] == 2
    assert st.get_meta(conn, "schema_version") == str(st.SCHEMA_VERSION) == "2"
    conn.close()
    # The rebuilt log is append-only as before.
    conn = sqlite3.connect(st.db_path(store), isolation_level=None)
    for sql in ("UPDATE label_events SET who = 'x'", "DELETE FROM label_events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_an_old_store_keeps_the_hash_of_its_events_and_a_run_upgrades_it(seed_store_copy):
    store = seed_store_copy
    sid, text = _statement(store, "trade", True)
    labelling.record(store, sid, "trade", False, who="Ana")
    conn = st.open_readonly(store)
    digest = labelling.events_hash(conn)
    conn.close()
    events = [r[1:-1] for r in _rows(store)]
    _as_schema_1(store, events)
    conn = st.open_readonly(store)
    assert labelling.events_hash(conn) == digest  # schema 1 hashes the same events alike
    conn.close()
    conn = st.open_store(store, create=False)  # what a run opens: upgraded, events kept
    try:
        assert st.get_meta(conn, "schema_version") == "2" and st.label_log_current(conn)
        assert labelling.events_hash(conn) == digest
    finally:
        conn.close()
    assert labelling.withdraw(store, sid, who="Ana") is not None
    assert sid not in _replay(store)


def test_a_schema_1_store_without_a_log_gets_the_new_one(seed_store_copy):
    store = seed_store_copy
    conn = sqlite3.connect(st.db_path(store), isolation_level=None)
    conn.executescript("DROP TRIGGER label_events_no_update; DROP TRIGGER label_events_no_delete; "
                       "DROP TABLE label_events; UPDATE meta SET value = '1' WHERE key = 'schema_version';")
    conn.close()
    conn = st.open_readonly(store)
    assert labelling.replay(conn) == {} and labelling.withdrawals(conn, ["x"]) == {}
    conn.close()
    sid, _ = _statement(store, "trade", True)
    labelling.record(store, sid, "trade", False, who="Ana")
    assert labelling.withdraw(store, sid, who="Ana") is not None
    conn = st.open_readonly(store)
    assert st.get_meta(conn, "schema_version") == "2"
    conn.close()
