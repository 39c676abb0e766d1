"""Correcting tags: the label log, its replay, the uncertainty queue, training labels from the log,
re-tagging beside the served tags, and two model versions compared.

The log (``label_events`` in the store) is append-only: the store's triggers refuse UPDATE and
DELETE, so a label is changed by a new event, and the current labels are the log replayed in
event order. Each event keeps the statement's text and the topics it showed before the event,
so the replay needs nothing but the log. A *withdrawal* (``withdraw``) is an event too: it names a
person's earlier events on a statement, which the replay then skips (the statement is as if they
had never labelled it; the log keeps both).

Rules kept here: statements in the log (corrected, or chosen by the queue) are never trained on
when their text is in the audit sample or the evaluation set, and a future audit round leaves
them out (``logged_keys``, read by ``pipeline.audit.draw``): a sample chosen by a person or by
uncertainty is not random.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline import settings
from pipeline import store as st
from pipeline.audit import text_key
from pipeline.errors import StoreBusyError, StoreError, UsageError

CORRECTIONS_FILE = "corrections.jsonl"  # written into the labels folder by `train --with-log`
SOURCES = ("correction", "queue")
WITHDRAWAL = "withdrawal"  # the source of a withdrawal event (``withdraw``)
BATCH = 20
# The largest batch `labels queue` gives: its near-duplicate check compares each statement with every
# one picked before it (quadratic), 3 s for 1,000 on the full store; a reader labels far fewer at once.
QUEUE_MAX = 1000
# A correction is one short transaction: it waits this long for a run's write, then tells the user.
BUSY_MS = 2000
STATUS_FILE = "retrain.json"  # in the store folder: the dashboard's retrain progress


# -- writing and replaying the log ---------------------------------------------------------------
def _connect(store: str | os.PathLike) -> sqlite3.Connection:
    path = st.db_path(store)
    if not path.exists():
        raise st.no_store(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
    return conn


@dataclass(frozen=True)
class Labels:
    """A statement's current labels (the log replayed) and who set them last."""

    statement_id: str
    topics: tuple[str, ...]
    text: str
    lang: str
    date: str
    who: str
    at: str
    events: int
    last: int = 0  # the id of its latest event (of two statements with one text, the later wins)
    by: tuple[str, ...] = ()  # everyone whose events stand (not withdrawn), in the order they first labelled it


def name(who: str) -> str:
    """A name as the log records it (spaces collapsed, at most 80 characters)."""
    return " ".join(str(who).split())[:80]


def _open_log(store: str | os.PathLike) -> sqlite3.Connection:
    """A connection for writing the log: the log made (a store written before it existed) or
    upgraded to hold withdrawals (a store of schema 1, ``store.upgrade_label_log``)."""
    conn = _connect(store)
    try:
        conn.executescript(_LOG_SCHEMA)  # no-op when the log exists
        st.upgrade_label_log(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _busy(store, exc: sqlite3.OperationalError, what: str) -> StoreError:
    if "locked" in str(exc) or "busy" in str(exc):
        return StoreBusyError(f"{st.db_path(store)}: the store is busy (a run is writing); "
                              f"the {what} was not saved, try again in a moment")
    return StoreError(f"{st.db_path(store)}: cannot record the {what} ({exc})")



@contextmanager
def _log_transaction(store: str | os.PathLike, what: str) -> Iterator[sqlite3.Connection]:
    """The label log open in one short write transaction (``BEGIN IMMEDIATE``), committed when the
    block ends (unless it rolled back itself: nothing to record), rolled back on any error, closed
    after. A run holding the write for more than two seconds is ``StoreBusyError`` naming ``what``."""
    try:
        conn = _open_log(store)
    except sqlite3.OperationalError as exc:
        raise _busy(store, exc, what) from exc
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            if conn.in_transaction:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        raise _busy(store, exc, what) from exc
    finally:
        conn.close()


def record(store: str | os.PathLike, statement_id: str, topic: str, new: bool, *, who: str,
           source: str = "correction", note: str = "") -> int | None:
    """Append one event: ``topic`` set (``new`` true) or removed on a statement. Returns its id, or
    None when the statement already had that label (a correction that changes nothing; the queue's
    "keep" is recorded, since confirming a tag is a label too).

    One short transaction beside readers and runs (WAL); if a run holds the write for more than two
    seconds, ``StoreBusyError`` says so and nothing is written.
    """
    who = name(who)
    if not who:
        raise UsageError("a correction needs the name of who makes it")
    if source not in SOURCES:
        raise UsageError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    with _log_transaction(store, "correction") as conn:
        row = conn.execute("SELECT text, lang, date, topic_mask, model_version FROM statements "
                           "WHERE statement_id = ?", (statement_id,)).fetchone()
        if row is None:
            raise UsageError(f"no statement {statement_id!r} in the store")
        text, lang, date, mask, version = row
        bits = st.topic_bits(conn)
        if topic not in bits:
            raise UsageError(f"unknown topic {topic!r} (the store has: {', '.join(bits)})")
        current = _replay(conn, [statement_id]).get(statement_id)
        shown = current.topics if current else tuple(t for t, b in bits.items() if (mask >> b) & 1)
        old = topic in shown
        if old == bool(new) and source == "correction":
            conn.execute("ROLLBACK")
            return None
        cur = conn.execute(
            "INSERT INTO label_events(statement_id, topic, old, new, who, at, source, model_version, note, "
            "shown, text, lang, date) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (statement_id, topic, int(old), int(bool(new)), who, _now(), source, version, str(note)[:500],
             json.dumps(sorted(shown)), text, lang, date))
        return int(cur.lastrowid)


def withdraw(store: str | os.PathLike, statement_id: str, *, who: str, note: str = "") -> int | None:
    """Withdraw ``who``'s events on a statement: one event (source ``withdrawal``) that names every
    event of theirs on it that still stands. Replayed, the statement then has no label from them
    (as if they had never corrected it; another person's events still stand), so it leaves the
    export and the training labels, is back in the queue and may be drawn by a later audit round,
    unless someone else's events stand. Events ``who`` records afterwards stand again. Returns the
    withdrawal's id, or None when ``who`` has no standing event on the statement (nothing to do).

    One short transaction, as ``record``; ``StoreBusyError`` when a run holds the write."""
    who = name(who)
    if not who:
        raise UsageError("a withdrawal needs the name of who made the correction")
    with _log_transaction(store, "withdrawal") as conn:
        rows = conn.execute("SELECT event_id, who, source, withdraws, shown, text, lang, date FROM label_events "
                            "WHERE statement_id = ? ORDER BY event_id", (statement_id,)).fetchall()
        gone = {e for r in rows if r[2] == WITHDRAWAL for e in json.loads(r[3] or "[]")}
        mine = [r[0] for r in rows if r[1] == who and r[2] != WITHDRAWAL and r[0] not in gone]
        if not mine:
            conn.execute("ROLLBACK")
            return None
        current = _replay(conn, [statement_id]).get(statement_id)
        shown = current.topics if current else json.loads(rows[0][4])
        version = conn.execute("SELECT model_version FROM statements WHERE statement_id = ?",
                               (statement_id,)).fetchone()
        _, _, _, _, _, text, lang, date = rows[0]
        cur = conn.execute(
            "INSERT INTO label_events(statement_id, topic, old, new, who, at, source, model_version, note, "
            "shown, text, lang, date, withdraws) VALUES (?,'',0,0,?,?,?,?,?,?,?,?,?,?)",
            (statement_id, who, _now(), WITHDRAWAL, version[0] if version else None, str(note)[:500],
             json.dumps(sorted(shown)), text, lang, date, json.dumps(mine)))
        return int(cur.lastrowid)


def set_topics(store: str | os.PathLike, statement_id: str, topics: Iterable[str], *, who: str,
               note: str = "", seen: Iterable[str] | None = None) -> list[int]:
    """Make a statement's labels ``topics``: one correction event per topic that changes. With
    ``seen`` (the topics the user started from), only the topics the user changed are recorded: a
    label another session set meanwhile, which this user never saw, is kept."""
    wanted = set(topics)
    conn = st.open_readonly(store)
    try:
        current = labels_for(conn, [statement_id]).get(statement_id)
        bits = st.topic_bits(conn)
        row = conn.execute("SELECT topic_mask FROM statements WHERE statement_id = ?", (statement_id,)).fetchone()
    finally:
        conn.close()
    if row is None:
        raise UsageError(f"no statement {statement_id!r} in the store")
    shown = set(current.topics) if current else {t for t, b in bits.items() if (row[0] >> b) & 1}
    out = []
    for topic in sorted(shown ^ wanted if seen is None else set(seen) ^ wanted):
        eid = record(store, statement_id, topic, topic in wanted, who=who, note=note)
        if eid is not None:
            out.append(eid)
    return out


_LOG_SCHEMA = st.LABEL_LOG_SCHEMA


def _has_log(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'label_events'").fetchone() is not None


def _withdraws_col(conn: sqlite3.Connection) -> str:
    """The ``withdraws`` column, or NULL for a log of schema 1 (read-only, not upgraded yet: no withdrawals)."""
    return "withdraws" if st.label_log_current(conn) else "NULL AS withdraws"


def _replay(conn: sqlite3.Connection, statement_ids: list[str] | None = None,
            until: int | None = None) -> dict[str, Labels]:
    if not _has_log(conn):
        return {}
    where, args = [], []
    if statement_ids is not None:
        where.append("statement_id IN (SELECT value FROM json_each(?))")
        args.append(json.dumps(statement_ids))
    if until is not None:
        where.append("event_id <= ?")
        args.append(until)
    sql = (f"SELECT event_id, statement_id, topic, new, who, at, shown, text, lang, date, source, "
           f"{_withdraws_col(conn)} FROM label_events"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY event_id")
    rows = conn.execute(sql, args).fetchall()
    # Withdrawn events are skipped; a withdrawal is no label itself (only those up to ``until`` count).
    gone = {e for r in rows if r[10] == WITHDRAWAL for e in json.loads(r[11] or "[]")}
    state: dict[str, dict] = {}
    for eid, sid, topic, new, who, at, shown, text, lang, date, source, _ in rows:
        s = state.get(sid)
        if s is None:  # the statement's first event (withdrawn or not) gives what it showed before the log
            s = state[sid] = {"topics": set(json.loads(shown)), "text": text, "lang": lang or "",
                              "date": date or "", "events": 0, "by": {}}
        if source == WITHDRAWAL or eid in gone:
            continue
        (s["topics"].add if new else s["topics"].discard)(topic)
        s["by"].setdefault(who, eid)
        s.update(who=who, at=at, events=s["events"] + 1, last=eid)
    return {sid: Labels(sid, tuple(sorted(s["topics"])), s["text"], s["lang"], s["date"], s["who"], s["at"],
                        s["events"], s["last"], tuple(s["by"])) for sid, s in state.items() if s["events"]}


def replay(conn: sqlite3.Connection, until: int | None = None) -> dict[str, Labels]:
    """Every logged statement's current labels: the log replayed in event order (up to ``until``)."""
    return _replay(conn, None, until)


def labels_for(conn: sqlite3.Connection, statement_ids: list[str]) -> dict[str, Labels]:
    """The current labels of the given statements that the log holds (for showing them)."""
    return _replay(conn, list(statement_ids))


def withdrawals(conn: sqlite3.Connection, statement_ids: list[str]) -> dict[str, list[dict]]:
    """The withdrawals on the given statements, oldest first: {statement id: [{event_id, who, at,
    withdraws (the event ids)}]}."""
    if not _has_log(conn) or not st.label_log_current(conn):
        return {}
    out: dict[str, list[dict]] = {}
    for eid, sid, who, at, ids in conn.execute(
            "SELECT event_id, statement_id, who, at, withdraws FROM label_events WHERE source = ? AND statement_id "
            "IN (SELECT value FROM json_each(?)) ORDER BY event_id", (WITHDRAWAL, json.dumps(list(statement_ids)))):
        out.setdefault(sid, []).append({"event_id": eid, "who": who, "at": at, "withdraws": json.loads(ids)})
    return out


def events(conn: sqlite3.Connection, limit: int | None = None) -> list[dict]:
    """The log's events, newest first (withdrawals too: source 'withdrawal', ``withdraws`` their ids)."""
    if not _has_log(conn):
        return []
    cur = conn.execute("SELECT event_id, statement_id, topic, old, new, who, at, source, model_version, note, "
                       f"{_withdraws_col(conn)} FROM label_events ORDER BY event_id DESC"
                       + (" LIMIT ?" if limit else ""),
                       (limit,) if limit else ())
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def events_hash(conn: sqlite3.Connection) -> tuple[str, int, int]:
    """(hash of every event, number of events, last event id): what a model trained on the log records."""
    if not _has_log(conn):
        return hashlib.sha256(b"").hexdigest()[:16], 0, 0
    h = hashlib.sha256()
    n = last = 0
    for row in conn.execute("SELECT event_id, statement_id, topic, old, new, who, at, source, shown, text, "
                            f"{_withdraws_col(conn)} FROM label_events ORDER BY event_id"):
        # A withdrawal adds the ids it withdraws; other events hash as they did before withdrawals existed.
        row = row if row[-1] is not None else row[:-1]
        h.update(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        n, last = n + 1, row[0]
    return h.hexdigest()[:16], n, last


def logged_keys(conn: sqlite3.Connection) -> set[str]:
    """Text keys of every statement with a label in the log (events that stand): a future audit
    round and the queue leave them out. A statement whose every event was withdrawn is not among
    them: it is as if never labelled."""
    return {text_key(lab.text) for lab in replay(conn).values()}


# -- labels for training ---------------------------------------------------------------------------
def export_labels(conn: sqlite3.Connection) -> list[dict]:
    """The log's current labels as labelled statements (the label files' shape), one per text, in
    the order they were first corrected. Of statements with the same text corrected differently,
    the one corrected last gives the label (the latest reading)."""
    latest: dict[str, Labels] = {}
    for lab in replay(conn).values():
        key = text_key(lab.text)
        if key not in latest or lab.last > latest[key].last:
            latest[key] = lab
    return [{"text": lab.text, "topics": list(lab.topics), "lang": lab.lang, "date": lab.date,
             "id": lab.statement_id, "labeller": f"log:{lab.who}", "source": "label-log"} for lab in latest.values()]


def label_lines(rows: Iterable[dict]) -> Iterator[str]:
    """Labelled statements as the lines of a label file (JSON Lines)."""
    return (json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def write_label_file(rows: list[dict], path: Path) -> None:
    """Write labelled statements as JSON Lines, atomically (a reader sees the old file or the new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("".join(label_lines(rows)), encoding="utf-8")
    tmp.replace(path)


def default_gold() -> Path:
    """The evaluation set: ``labels/dev.jsonl`` in the shared folder (the setting ``shared``)."""
    return settings.shared_dir() / "labels" / "dev.jsonl"


def held_out_keys(gold: Path | None = None) -> tuple[set[str], set[str]]:
    """Text keys never trained on: the audit sample's and the evaluation set's."""
    from pipeline.audit import SAMPLE_FILE, training_keys

    audit = training_keys([SAMPLE_FILE]) if SAMPLE_FILE.exists() else set()
    gold = gold if gold is not None else default_gold()
    ev = training_keys([gold]) if gold.exists() else set()
    return audit, ev


def held_out_in(text: str, keys: tuple[set[str], set[str]]) -> str | None:
    """Which held-out set holds ``text`` (``keys`` from ``held_out_keys``): "audit", else "eval", or
    None when a correction of it is trained on."""
    audit, ev = keys
    key = text_key(text)
    return "audit" if key in audit else "eval" if key in ev else None


_HELD_OUT_WHY = {"audit": "its text is in the audit sample, which must stay a random sample",
                 "eval": "its text is in the evaluation set, which measures the tagger"}


def held_out_reason(text: str, keys: tuple[set[str], set[str]]) -> str | None:
    """Why a correction of ``text`` is never trained on (its text is in the audit sample or the
    evaluation set, ``keys`` from ``held_out_keys``), or None when it is trained on."""
    return _HELD_OUT_WHY.get(held_out_in(text, keys) or "")


def log_training_labels(store: str | os.PathLike, labels_dir: Path, gold: Path | None = None) -> dict:
    """Write the log's labels to ``labels_dir/corrections.jsonl`` for ``train``, leaving out texts of
    the audit sample and the evaluation set. Returns what was written and dropped, and the events'
    hash (which the model records)."""
    conn = st.open_readonly(store)
    try:
        rows = export_labels(conn)
        digest, n_events, last = events_hash(conn)
    finally:
        conn.close()
    keys = held_out_keys(gold)
    where = [held_out_in(r["text"], keys) for r in rows]
    keep = [r for r, w in zip(rows, where) if w is None]
    write_label_file(keep, Path(labels_dir) / CORRECTIONS_FILE)
    return {"events_hash": digest, "events": n_events, "last_event": last, "statements": len(keep),
            "dropped_audit": where.count("audit"), "dropped_eval": where.count("eval")}


# -- the queue -------------------------------------------------------------------------------------
def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def near_duplicate(a: set[str], b: set[str], limit: float = 0.8) -> bool:
    """Two statements nearly the same (word sets overlapping by ``limit`` or more, Jaccard)."""
    return bool(a) and bool(b) and len(a & b) / len(a | b) >= limit


def pick_uncertain(items: list[tuple[str, str, float]], threshold: float, n: int,
                   skip: set[str] = frozenset()) -> list[tuple[str, str, float]]:
    """Of (id, text, score) items, the ``n`` nearest ``threshold``, near-duplicates removed (the
    nearer one kept) and texts whose key is in ``skip`` left out. A pure function: the store's queue
    and the simulated-user test use it alike."""
    picked: list[tuple[str, str, float]] = []
    seen: list[set[str]] = []
    for item in sorted(items, key=lambda x: (abs(x[2] - threshold), x[0])):
        if text_key(item[1]) in skip:
            continue
        toks = _tokens(item[1])
        if any(near_duplicate(toks, o) for o in seen):
            continue
        picked.append(item)
        seen.append(toks)
        if len(picked) >= n:
            break
    return picked


def queue(conn: sqlite3.Connection, topic: str, threshold: float, n: int = BATCH) -> list[dict]:
    """The next ``n`` statements the model is least sure about for ``topic``: scores nearest its
    threshold, near-duplicates removed; statements already in the log, in the labelled set, in
    the audit sample or in the evaluation set left out (labelling them teaches nothing new, or
    must not happen)."""
    audit, ev = held_out_keys()
    skip = audit | ev | logged_keys(conn)
    # Candidates in widening bands around the threshold until there are enough after filtering.
    for width in (0.02, 0.05, 0.1, 0.2, 0.5, 1.0):
        rows = conn.execute(
            "SELECT statement_id, text, json_extract(scores, '$.' || json_quote(?)) AS sc FROM statements "
            "WHERE gold_mask IS NULL AND sc BETWEEN ? AND ?", (topic, threshold - width, threshold + width)
        ).fetchall()
        picked = pick_uncertain([(a, b, float(c)) for a, b, c in rows], threshold, n, skip)
        if len(picked) >= n or width == 1.0:
            break
    ids = [p[0] for p in picked]
    meta = {r[0]: r[1:] for r in conn.execute(
        "SELECT s.statement_id, s.date, s.source, s.speaker, s.lang, s.topic_mask, d.title, d.url "
        "FROM statements s JOIN documents d USING (doc_id) WHERE s.statement_id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),))}
    bits = st.topic_bits(conn)
    out = []
    for sid, text, score in picked:
        date, source, speaker, lang, mask, title, url = meta[sid]
        out.append({"statement_id": sid, "text": text, "score": round(score, 4), "date": date, "source": source,
                    "speaker": speaker or "", "lang": lang, "title": title, "url": url,
                    "topics": [t for t, b in bits.items() if (mask >> b) & 1]})
    return out


# -- re-tagging beside the served tags -----------------------------------------------------------
RETAG_BATCH = 5000


def retag_beside(store: str | os.PathLike, model_path: str | os.PathLike, *,
                 labels_dir: Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Tag every stored statement with the model at ``model_path`` into ``version_tags`` while the
    store keeps serving the old tags, then swap them in with one transaction.

    The served version's tags are kept in ``version_tags`` first (before/after compares them).
    Holds the store's writer lock (a run waits); an interrupted re-tag resumes where it stopped.
    """
    from pipeline.audit import known_labels, labels_hash
    from pipeline.lock import writer_lock
    from pipeline.tagger import load_model

    labels_dir = Path(labels_dir) if labels_dir else settings.labels_dir()
    model = load_model(str(model_path))
    with writer_lock(store, None, None):
        conn = st.open_store(store, create=False)
        try:
            bits = st.ensure_topics(conn, [(t, "") for t in model.topics if t not in st.topic_bits(conn)])
            st.register_model(conn, model.version, model.topics_hash, list(model.topics), model.info)
            previous = [v for (v,) in conn.execute("SELECT DISTINCT model_version FROM statements")]
            st.keep_version_tags(conn)
            total = conn.execute("SELECT COUNT(*) FROM statements").fetchone()[0]
            done = conn.execute("SELECT COUNT(*) FROM version_tags WHERE version = ? AND scores IS NOT NULL",
                                (model.version,)).fetchone()[0]
            if previous == [model.version]:
                return {"version": model.version, "previous": previous, "retagged": 0, "total": total}
            last = 0
            while True:
                rows = conn.execute(
                    "SELECT sid, text FROM statements s WHERE sid > ? AND NOT EXISTS (SELECT 1 FROM version_tags v "
                    "WHERE v.version = ? AND v.sid = s.sid AND v.scores IS NOT NULL) ORDER BY sid LIMIT ?",
                    (last, model.version, RETAG_BATCH)).fetchall()
                if not rows:
                    break
                masks, scores = st.tag_columns(model.tag_arrays([r[1] for r in rows]), bits)
                with st.transaction(conn):
                    conn.executemany("INSERT OR REPLACE INTO version_tags(version, sid, topic_mask, scores) "
                                     "VALUES (?,?,?,?)",
                                     [(model.version, sid, m, js) for (sid, _), m, js in zip(rows, masks, scores)])
                done += len(rows)
                last = rows[-1][0]
                if progress:
                    progress(done, total)
            known = known_labels(labels_dir)
            gold = []
            for sid, text, old in conn.execute("SELECT sid, text, gold_mask FROM statements"):
                g = known.get(text_key(text))
                new = None if g is None else st._mask([x for x in g if x in bits], bits)
                if new != old:
                    gold.append((new, sid))
            swapped = st.swap_in_version(conn, model.version, gold)
            st.set_meta(conn, "labels_hash", labels_hash(labels_dir))
            return {"version": model.version, "previous": [v for v in previous if v != model.version],
                    "retagged": swapped, "total": total, "gold_changed": len(gold)}
        finally:
            conn.close()


# -- evaluation of versions, and the comparison ------------------------------------------------------
def evaluate_version(store: str | os.PathLike, model_path: str | os.PathLike, gold: Path) -> dict | None:
    """Score the model on the evaluation set and keep the report in the store (``model_evals``)."""
    from pipeline.tagger import load_model
    from pipeline.tagger.evaluate import bootstrap_f1, report
    from pipeline.tagger.train import load_labelled

    if not Path(gold).exists():
        return None
    model = load_model(str(model_path))
    rows = load_labelled([Path(gold)])
    names = list(model.topics)
    import numpy as np

    y = np.array([[int(n in r["topics"]) for n in names] for r in rows])
    pred = (model.scores_matrix([r["text"] for r in rows]) >= model.estimator.thresholds_).astype(int)
    langs = [r.get("lang", "") for r in rows]
    rep = report(names, langs, y, pred)
    rep["intervals"] = bootstrap_f1(names, langs, y, pred)
    # Each statement's gold and predicted topics (bit j = names[j]): two versions scored on the same
    # set are compared statement by statement (``paired``), not only by their totals.
    bits = 1 << np.arange(len(names))
    rep["statements"] = {"topics": names, "lang": langs, "gold": (y @ bits).tolist(), "pred": (pred @ bits).tolist()}
    gold_hash = hashlib.sha256(Path(gold).read_bytes()).hexdigest()[:16]
    conn = st.open_store(store, create=False)
    try:
        with st.transaction(conn):
            conn.execute("INSERT OR REPLACE INTO model_evals VALUES (?,?,?,?,?)",
                         (model.version, gold_hash, str(gold), json.dumps(rep), _now()))
    finally:
        conn.close()
    return rep


def versions(conn: sqlite3.Connection) -> list[dict]:
    """Model versions whose tags the store keeps (newest first) and which one is served."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'version_tags'").fetchone() is None:
        return []
    served = {v for (v,) in conn.execute("SELECT DISTINCT model_version FROM statements")}
    rows = conn.execute("SELECT m.version, m.first_used, m.info FROM models m WHERE m.version IN "
                        "(SELECT DISTINCT version FROM version_tags) ORDER BY m.first_used DESC, m.rowid DESC")
    out = []
    for v, first, info in rows:
        i = json.loads(info or "{}")
        out.append({"version": v, "first_used": first, "served": v in served,
                    "trained_at": i.get("trained_at"), "log": i.get("label_log")})
    return out


def compare_trend(conn: sqlite3.Connection, a: str, b: str, granularity: str = "week") -> list[dict]:
    """Statements per period and topic under two versions' tags: rows {period, topic, version, count, total}."""
    if granularity not in ("day", "week", "month"):
        raise UsageError(f"granularity must be day, week or month, not {granularity!r}")
    bits = st.topic_bits(conn)
    out = []
    for version in (a, b):
        sums = ", ".join(f"SUM((v.topic_mask >> {bit}) & 1)" for bit in bits.values())
        for row in conn.execute(f"SELECT s.{granularity}, COUNT(*), {sums} FROM version_tags v "
                                f"JOIN statements s ON s.sid = v.sid WHERE v.version = ? GROUP BY 1 ORDER BY 1",
                                (version,)):
            period = st.from_day(row[0]).isoformat()
            for topic, count in zip(bits, row[2:]):
                out.append({"period": period, "topic": topic, "version": version, "count": int(count),
                            "total": int(row[1])})
    return out


def flipped(conn: sqlite3.Connection, a: str, b: str, *, topic: str | None = None, search: str = "",
            corrected_only: bool = False, limit: int = 200) -> tuple[list[dict], int]:
    """Statements whose tags differ between versions ``a`` and ``b``: one row per statement and topic
    that flipped (``change`` 'added' or 'removed' going from a to b), with the log's label when
    the statement was corrected. Returns (rows, total)."""
    bits = st.topic_bits(conn)
    topics = {topic: bits[topic]} if topic else bits
    logged = replay(conn)
    rows = conn.execute(
        "SELECT s.statement_id, s.date, s.source, s.text, va.topic_mask, vb.topic_mask FROM version_tags va "
        "JOIN version_tags vb ON vb.sid = va.sid AND vb.version = ? JOIN statements s ON s.sid = va.sid "
        "WHERE va.version = ? AND va.topic_mask != vb.topic_mask ORDER BY s.day DESC, s.sid", (b, a)).fetchall()
    needle = text_key(search) if search else ""
    out = []
    for sid, date, source, text, ma, mb in rows:
        if needle and needle not in text_key(text):
            continue
        if corrected_only and sid not in logged:
            continue
        for name, bit in topics.items():
            was, now = (ma >> bit) & 1, (mb >> bit) & 1
            if was != now:
                lab = logged.get(sid)
                out.append({"statement_id": sid, "date": date, "source": source, "topic": name,
                            "change": "added" if now else "removed", "text": text,
                            "label": None if lab is None else name in lab.topics,
                            "corrected_by": None if lab is None else lab.who})
    return out[:limit], len(out)


def evals(conn: sqlite3.Connection, versions_: Iterable[str]) -> dict[str, dict]:
    """The stored evaluation reports of the given versions (on the newest evaluation set each has)."""
    out = {}
    for v in versions_:
        row = conn.execute("SELECT report, gold FROM model_evals WHERE version = ? ORDER BY made_at DESC LIMIT 1",
                           (v,)).fetchone()
        if row:
            out[v] = json.loads(row[0]) | {"gold": row[1]}
    return out


def paired(conn: sqlite3.Connection, a: str, b: str) -> dict | None:
    """Version b against version a on the newest evaluation set both were scored on, statement by
    statement: macro F1 and per-topic F1 change (b - a) with paired bootstrap intervals
    (``evaluate.paired_change``). None when they share no set scored with its statements kept."""
    import numpy as np

    from pipeline.tagger.evaluate import paired_change

    row = conn.execute(
        "SELECT x.report, y.report, x.gold FROM model_evals x JOIN model_evals y ON x.gold_hash = y.gold_hash "
        "WHERE x.version = ? AND y.version = ? ORDER BY MAX(x.made_at, y.made_at) DESC LIMIT 1", (a, b)).fetchone()
    if not row:
        return None
    ra, rb = json.loads(row[0]).get("statements"), json.loads(row[1]).get("statements")
    if not ra or not rb or ra["gold"] != rb["gold"] or ra["lang"] != rb["lang"]:
        return None
    names = [t for t in ra["topics"] if t in rb["topics"]]

    def matrix(masks: list[int], topics: list[str]) -> np.ndarray:
        m = np.asarray(masks, dtype=np.int64)[:, None]
        return (m >> np.array([topics.index(t) for t in names])) & 1

    out = paired_change(names, ra["lang"], matrix(ra["gold"], ra["topics"]), matrix(ra["pred"], ra["topics"]),
                        matrix(rb["pred"], rb["topics"]))
    return {"gold": row[2], "before": a, "after": b, "by_language": out}


def _span(low: float, high: float, signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(low)} to {f.format(high)}"


def eval_rows(scores: dict[str, dict], versions_: Iterable[str]) -> list[dict]:
    """The Versions page's table: per version and language, macro F1 and each topic's F1, each with
    its 95 % interval where the stored report has them (reports of older trackers do not)."""
    out = []
    for v in versions_:
        rep = scores.get(v) or {}
        ci = rep.get("intervals") or {}
        for lang, m in rep.items():
            if not isinstance(m, dict) or "macro_f1" not in m:
                continue
            c = ci.get(lang) or {}
            row = {"version": v, "language": lang, "statements": m["n"], "macro F1": round(m["macro_f1"], 3),
                   "macro F1, 95 % interval": _span(c["macro"]["low"], c["macro"]["high"]) if c else "n/a"}
            for t, x in m["topics"].items():
                row[f"F1 {t}"] = round(x["f1"], 3)
                row[f"F1 {t}, 95 % interval"] = _span(c[t]["low"], c[t]["high"]) if t in c else "n/a"
            out.append(row)
    return out


def change_rows(change: dict) -> list[dict]:
    """Per language: the change of macro F1 and of each topic's F1 (after - before), with intervals."""
    out = []
    for lang, d in change["by_language"].items():
        row = {"language": lang, "statements": d["n"], "macro F1 change": d["macro"]["change"],
               "95 % interval": _span(d["macro"]["low"], d["macro"]["high"], signed=True)}
        for t, x in d.items():
            if t not in ("n", "macro"):
                row[f"{t} change"] = x["change"]
                row[f"{t}, 95 % interval"] = _span(x["low"], x["high"], signed=True)
        out.append(row)
    return out


def change_verdict(change: dict) -> str:
    """One sentence on the whole set's macro F1: better, worse, or not told apart."""
    d = change["by_language"]["all"]["macro"]
    a, b, span = change["before"], change["after"], _span(d["low"], d["high"], signed=True)
    if d["low"] > 0:
        return f"{b} tags this set better than {a}: macro F1 {d['change']:+.3f} ({span})."
    if d["high"] < 0:
        return f"{b} tags this set worse than {a}: macro F1 {d['change']:+.3f} ({span})."
    return (f"{b} and {a} cannot be told apart on this set: macro F1 {d['change']:+.3f}, and the interval "
            f"({span}) holds 0.")


# -- retrain: train with the log, evaluate, re-tag (the dashboard's button runs this as a process) --
def status_path(store: str | os.PathLike) -> Path:
    return st.db_path(store).parent / STATUS_FILE


def write_status(store: str | os.PathLike, **fields) -> None:
    path = status_path(store)
    old = read_status(store) or {}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(old | fields | {"updated_at": _now()}))
    tmp.replace(path)


def read_status(store: str | os.PathLike) -> dict | None:
    """The last retrain's progress, or None; a 'running' one whose process is gone reads 'failed'."""
    try:
        s = json.loads(status_path(store).read_text())
    except (OSError, ValueError):
        return None
    if s.get("state") in ("training", "retagging", "evaluating", "starting") and not _alive(s.get("pid")):
        s["state"], s["message"] = "failed", "the retrain process ended without finishing"
    return s


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    try:  # a zombie (ended, not yet reaped by the dashboard that started it) is not running
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def staged_path(model_path: str | os.PathLike) -> Path:
    """Where retrain writes the new model until the store serves its tags (``tagger-next.skops``)."""
    p = Path(model_path)
    return p.with_name(f"{p.stem}-next{p.suffix}")


def install(staged: Path, model_path: Path, version: str) -> None:
    """Put a staged model in place of the model file: its compiled form, its info, then the file."""
    from pipeline.tagger import compiled_path

    target = compiled_path(model_path, version)
    if compiled_path(staged, version).exists():
        compiled_path(staged, version).replace(target)
    for old in model_path.parent.glob(f"{model_path.stem}.*.npz"):
        if old != target:
            old.unlink(missing_ok=True)
    staged.with_suffix(".json").replace(model_path.with_suffix(".json"))
    staged.replace(model_path)


def retrain(store: str | os.PathLike, *, labels_dir: Path, topics_path: Path, model_path: Path,
            gold: Path | None = None, jobs: int = 2, say: Callable[[str], None] = lambda m: None) -> dict:
    """Train on the shipped labels plus the log, evaluate the old and new versions on the
    evaluation set, and re-tag the store beside the served tags (swapped in when complete).
    Progress goes to the store's ``retrain.json``."""
    from pipeline.tagger import model_info
    from pipeline.tagger.train import train

    gold = gold if gold is not None else default_gold()
    write_status(store, state="training", pid=os.getpid(), started_at=_now(), done=0, total=0, message="",
                 old_version=None, new_version=None)
    try:
        old = model_info(model_path).version if Path(model_path).exists() else None
        write_status(store, old_version=old)
        if old and gold.exists():
            evaluate_version(store, model_path, gold)
        log = log_training_labels(store, labels_dir, gold)
        say(f"label log: {log['events']} events, {log['statements']} statements to train on; "
            f"{log['dropped_audit']} dropped (text in the audit sample), {log['dropped_eval']} dropped "
            "(text in the evaluation set)")
        # Trained beside the model file, which is replaced only once the store serves the new tags: a
        # retrain stopped before that leaves the model that tagged the store in place.
        staged = staged_path(model_path)
        info = train(labels_dir=labels_dir, topics_path=topics_path, out=staged, n_jobs=jobs,
                     extra_info={"label_log": log})
        say(f"model {info['version']} trained on {info['training_statements']} labelled statements")
        write_status(store, state="retagging", new_version=info["version"])
        if gold.exists():
            evaluate_version(store, staged, gold)
            if old:
                conn = st.open_readonly(store)
                try:
                    change = paired(conn, old, info["version"])
                finally:
                    conn.close()
                if change:
                    say(f"on the evaluation set: {change_verdict(change)}")
        t0 = time.time()
        res = retag_beside(store, staged, labels_dir=labels_dir,
                           progress=lambda d, t: write_status(store, done=d, total=t))
        install(staged, Path(model_path), info["version"])
        say(f"store re-tagged with {info['version']}: {res['retagged']} statements in {time.time() - t0:.0f} s")
        dropped = log["dropped_audit"] + log["dropped_eval"]
        write_status(store, state="done", message=f"model {info['version']} serves the store" + (
            f"; {dropped} corrected {'statement was' if dropped == 1 else 'statements were'} not trained on "
            f"(text in the audit sample: {log['dropped_audit']}, in the evaluation set: {log['dropped_eval']})"
            if dropped else ""))
        return {"model": info, "log": log, "retag": res}
    except BaseException as exc:
        write_status(store, state="failed", message=f"{type(exc).__name__}: {exc}")
        raise


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
