"""The store: one SQLite database (WAL mode) holding documents, statements, tags and runs.

Why SQLite: it is embedded (no server), in Python's standard library, crash-safe (each
document is written in one transaction), and in WAL mode readers (the dashboard) keep
reading the last committed state while a run writes. FTS5 gives full-text search. The
statements table is kept narrow (integer day/week/month keys, a topic bitmask) so that
aggregations over millions of rows scan a covering index. This module writes the SQL
(pipeline/labelling.py too, for the label log and version tags).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.errors import StoreError
from pipeline.readers import briefing
from pipeline.stages import Document, Statement, TaggedBatch

SCHEMA_VERSION = 2  # 2: the label log holds withdrawals (upgrade_label_log)
DB_NAME = "tracker.db"
EPOCH = dt.date(1970, 1, 1)

SCHEMA_TEMPLATE = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topics(
    topic_id INTEGER PRIMARY KEY,      -- bit number in statements.topic_mask
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS models(
    version TEXT PRIMARY KEY, topics_hash TEXT, topics TEXT, info TEXT, first_used TEXT
);
CREATE TABLE IF NOT EXISTS runs(
    run_id INTEGER PRIMARY KEY, started_at TEXT, finished_at TEXT, status TEXT,
    inputs TEXT, files_read INTEGER DEFAULT 0, files_new INTEGER DEFAULT 0,
    files_changed INTEGER DEFAULT 0, files_unchanged INTEGER DEFAULT 0,
    files_refused INTEGER DEFAULT 0, lines_refused INTEGER DEFAULT 0,
    statements_added INTEGER DEFAULT 0, statements_removed INTEGER DEFAULT 0,
    statements_retagged INTEGER DEFAULT 0, model_version TEXT,
    -- files_considered = new + changed + unchanged + duplicate + refused; files_read: those whose
    -- bytes were read (hashed); files_skipped: files in input folders of no known format
    files_considered INTEGER DEFAULT 0, files_duplicate INTEGER DEFAULT 0, files_skipped INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refusals(
    run_id INTEGER, path TEXT, line INTEGER, reason TEXT
);
CREATE TABLE IF NOT EXISTS notes(
    run_id INTEGER, path TEXT, note TEXT      -- accepted files with something worth a look
);
CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY, file_hash TEXT NOT NULL, format TEXT, run_id INTEGER, seen_at TEXT,
    size INTEGER, mtime_ns INTEGER     -- as seen when hashed: an unchanged stat skips re-hashing
);
CREATE TABLE IF NOT EXISTS documents(
    doc_id TEXT PRIMARY KEY, file_hash TEXT NOT NULL, path TEXT, format TEXT, date TEXT,
    source TEXT, lang TEXT, title TEXT, url TEXT, n_statements INTEGER, run_id INTEGER
);
CREATE INDEX IF NOT EXISTS documents_hash ON documents(file_hash);
CREATE TABLE IF NOT EXISTS statements(
    -- AUTOINCREMENT: ids are never reused, so "sid > last id before this batch" is exactly the
    -- batch even when the batch replaced (deleted) the newest statements.
    sid INTEGER PRIMARY KEY AUTOINCREMENT,
    statement_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    date TEXT NOT NULL,
    day INTEGER NOT NULL,      -- days since 1970-01-01
    week INTEGER NOT NULL,     -- day of the Monday of its ISO week
    month INTEGER NOT NULL,    -- day of the first of its month
    source TEXT NOT NULL, lang TEXT NOT NULL,
    speaker_raw TEXT, speaker TEXT, role TEXT NOT NULL,
    position INTEGER NOT NULL, text TEXT NOT NULL,
    topic_mask INTEGER NOT NULL DEFAULT 0,
    scores TEXT,
    model_version TEXT,
    gold_mask INTEGER          -- topics people gave this text in the labelled set; NULL: not labelled
);
-- Statement counts per day and facet combination, kept in step with statements by every write:
-- trends without a speaker or text filter read this small table instead of every statement.
CREATE TABLE IF NOT EXISTS daily(
    day INTEGER NOT NULL, week INTEGER NOT NULL, month INTEGER NOT NULL,
    source TEXT NOT NULL, lang TEXT NOT NULL, role TEXT NOT NULL, topic_mask INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, source, lang, role, topic_mask)
) WITHOUT ROWID;
-- Statements per speaker, kept in step like daily: the speaker filter lists the most frequent
-- speakers without scanning every statement.
CREATE TABLE IF NOT EXISTS speakers(speaker TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
-- Per day, facet combination and topic: statements, sum and sum of squares of the topic's score.
-- What corrected shares and their intervals need (pipeline/correction.py), pooled over any period.
-- Statements of the labelled set (labelled = 1) count their people-given label (0 or 1) instead of
-- a score: the model saw them in training, so their scores say nothing of its errors elsewhere.
CREATE TABLE IF NOT EXISTS daily_scores(
    day INTEGER NOT NULL, week INTEGER NOT NULL, month INTEGER NOT NULL,
    source TEXT NOT NULL, lang TEXT NOT NULL, role TEXT NOT NULL, labelled INTEGER NOT NULL,
    topic TEXT NOT NULL, n INTEGER NOT NULL, s1 REAL NOT NULL, s2 REAL NOT NULL,
    PRIMARY KEY (day, source, lang, role, labelled, topic)
) WITHOUT ROWID;
-- Score histograms per month, source and topic of the statements outside the labelled set (bins:
-- correction.BIN_EDGES): the drift check compares them with what the audit sample predicts.
CREATE TABLE IF NOT EXISTS score_hist(
    month INTEGER NOT NULL, source TEXT NOT NULL, topic TEXT NOT NULL, bin INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (month, source, topic, bin)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS statements_agg
    ON statements(day, week, month, source, lang, role, topic_mask);
CREATE INDEX IF NOT EXISTS statements_doc ON statements(doc_id, position);
CREATE INDEX IF NOT EXISTS statements_speaker ON statements(speaker);
CREATE INDEX IF NOT EXISTS statements_model ON statements(model_version);
CREATE VIRTUAL TABLE IF NOT EXISTS statements_fts USING fts5(
    text, content='statements', content_rowid='sid', tokenize='unicode61 remove_diacritics 2'
);
-- New statements are indexed in bulk by FileBatch (one INSERT ... SELECT per batch, in the
-- same transaction): several times faster than a per-row trigger.
CREATE TRIGGER IF NOT EXISTS statements_ad AFTER DELETE ON statements BEGIN
    INSERT INTO statements_fts(statements_fts, rowid, text) VALUES ('delete', old.sid, old.text);
END;
{LABEL_LOG}-- Per model version, each statement's topics (and, until swapped in, its scores): the previous
-- versions' tags for before/after, and a new version's tags written beside the served ones.
CREATE TABLE IF NOT EXISTS version_tags(
    version TEXT NOT NULL, sid INTEGER NOT NULL, topic_mask INTEGER NOT NULL, scores TEXT,
    PRIMARY KEY (version, sid)
) WITHOUT ROWID;
-- Each model version's scores on an evaluation set (keyed by the set's hash), for before/after.
CREATE TABLE IF NOT EXISTS model_evals(
    version TEXT NOT NULL, gold_hash TEXT NOT NULL, gold TEXT, report TEXT NOT NULL, made_at TEXT,
    PRIMARY KEY (version, gold_hash)
);
"""


# The label log (pipeline/labelling.py): append-only; current labels are the log replayed. Each event
# keeps the statement's text, so the log alone makes training labels. Schema 2 added withdrawals
# (source 'withdrawal', ``withdraws``: the ids of the events it withdraws); ``upgrade_label_log``
# rebuilds a schema-1 log (whose CHECK refuses that source) with every event kept as it was.
LABEL_LOG_TABLE = """CREATE TABLE IF NOT EXISTS label_events(
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    statement_id TEXT NOT NULL, topic TEXT NOT NULL,   -- '' on a withdrawal
    old INTEGER NOT NULL, new INTEGER NOT NULL,        -- the topic on the statement before and after
    who TEXT NOT NULL, at TEXT NOT NULL,               -- the name the user gave; UTC time
    source TEXT NOT NULL CHECK (source IN ('correction', 'queue', 'withdrawal')),
    model_version TEXT, note TEXT NOT NULL DEFAULT '',
    shown TEXT NOT NULL,                               -- JSON list: the statement's topics before the event
    text TEXT NOT NULL, lang TEXT, date TEXT,
    withdraws TEXT                                     -- a withdrawal's JSON list of the event ids it withdraws
)"""
LABEL_LOG_COLUMNS = ("event_id", "statement_id", "topic", "old", "new", "who", "at", "source", "model_version",
                     "note", "shown", "text", "lang", "date")  # those of schema 1
LABEL_LOG_EXTRAS = (
    "CREATE INDEX IF NOT EXISTS label_events_statement ON label_events(statement_id)",
    """CREATE TRIGGER IF NOT EXISTS label_events_no_update BEFORE UPDATE ON label_events BEGIN
    SELECT RAISE(ABORT, 'label_events is append-only: an event cannot be changed');
END""",
    """CREATE TRIGGER IF NOT EXISTS label_events_no_delete BEFORE DELETE ON label_events BEGIN
    SELECT RAISE(ABORT, 'label_events is append-only: an event cannot be deleted');
END""",
)
LABEL_LOG_SCHEMA = ";\n".join((LABEL_LOG_TABLE, *LABEL_LOG_EXTRAS)) + ";\n"
SCHEMA = SCHEMA_TEMPLATE.replace("{LABEL_LOG}", LABEL_LOG_SCHEMA)


def label_log_current(conn: sqlite3.Connection) -> bool:
    """Whether the store's label log is absent or of schema 2 (it can hold withdrawals)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'label_events'").fetchone()
    return row is None or "'withdrawal'" in row[0]


def upgrade_label_log(conn: sqlite3.Connection) -> bool:
    """Bring a store to schema 2: a label log written by schema 1 (its CHECK refuses withdrawals) is
    rebuilt, every event copied with its id, in one transaction; the triggers are made again, so
    the log stays append-only. The meta ``schema_version`` says 2 afterwards. Returns True when the
    log was rebuilt. (A dropped table fires no DELETE trigger; the triggers are dropped first anyway.)"""
    if label_log_current(conn) and (get_meta(conn, "schema_version") or str(SCHEMA_VERSION)) == str(SCHEMA_VERSION):
        return False
    with transaction(conn):
        rebuilt = not label_log_current(conn)  # read again under the write lock: another writer may be first
        if rebuilt:
            cols = ", ".join(LABEL_LOG_COLUMNS)
            for sql in ("DROP TRIGGER IF EXISTS label_events_no_update",
                        "DROP TRIGGER IF EXISTS label_events_no_delete",
                        "DROP INDEX IF EXISTS label_events_statement",
                        "ALTER TABLE label_events RENAME TO label_events_v1", LABEL_LOG_TABLE,
                        f"INSERT INTO label_events({cols}) SELECT {cols} FROM label_events_v1 ORDER BY event_id",
                        "DROP TABLE label_events_v1", *LABEL_LOG_EXTRAS):
                conn.execute(sql)
        version = get_meta(conn, "schema_version")
        if version is not None and int(version) < SCHEMA_VERSION:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    return rebuilt


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def from_day(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def db_path(store: str | os.PathLike) -> Path:
    """The database file of a store folder (a path to the file itself is accepted too)."""
    p = Path(store)
    return p if p.suffix == ".db" else p / DB_NAME


def no_store(path: Path) -> StoreError:
    """The error for a store path with no database: a folder to fill, or a file given as --store
    (it said "no store here" of the folder path/tracker.db inside a file, which cannot be)."""
    if path.parent.is_file():
        return StoreError(f"{path.parent}: is a file, not a store folder; give --store a folder")
    return StoreError(f"{path}: no store here; fill one with `python -m pipeline run --input PATH`")


RUN_COUNTS_ADDED = ("files_considered", "files_duplicate", "files_skipped")


def _configure(conn: sqlite3.Connection, cache_mb: int = 256) -> None:
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{int(cache_mb) * 1024}")  # 256 MB: index inserts stay in memory


def _create(path: Path) -> None:
    """Make a new, empty store at ``path`` that appears whole or not at all.

    The schema is written to a file beside it, which then takes the store's name: a run killed
    while it creates the store leaves no database without tables (readers would call it broken).
    ``os.link`` rather than a rename: should another process create the store meanwhile, its
    store stays and this one is dropped.
    """
    for old in path.parent.glob(f".{path.name}.*.new*"):  # left by a creation that was killed
        if time.time() - old.stat().st_mtime > 60:
            old.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # kept in the file: the store is always WAL
            conn.executescript(f"BEGIN;\n{SCHEMA}\nINSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');\n"
                               "COMMIT;")
        finally:
            conn.close()  # the last connection folds the log into the file and removes it
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links (FAT, some network shares)
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    """StoreError for another program's database (tables, but no ``meta``): the schema would be
    written into it, beside (or into) its own tables."""
    tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                               "AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name")]
    if tables and "meta" not in tables:
        conn.close()
        more = ", ..." if len(tables) > 5 else ""
        raise StoreError(f"{path}: not a store of this project (a database with other tables: "
                         f"{', '.join(tables[:5])}{more}); give --store a folder of its own")


def open_store(store: str | os.PathLike, create: bool = True) -> sqlite3.Connection:
    """Open (and create when asked) a store for writing."""
    path = db_path(store)
    if not path.exists() and not create:
        raise no_store(path)
    writable_folder(store)
    try:
        if not path.exists():
            _create(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _configure(conn)
        _check_ours(conn, path)  # before WAL mode, which would change its file
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Fold the write-ahead log into the database every 200 MB rather than every 4 MB: each page is
        # copied far fewer times during a large run; a run ends with a full checkpoint anyway.
        conn.execute("PRAGMA wal_autocheckpoint = 50000")
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a store of this project ({exc})") from exc
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store ({exc.strerror or exc})") from exc
    if row is None:
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    elif int(row[0]) == 1:  # schema 1: its label log cannot hold withdrawals; rebuilt, every event kept
        upgrade_label_log(conn)
    elif int(row[0]) != SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema {row[0]}, this version reads {SCHEMA_VERSION}")
    # Every store has its identity from its first run (citations name it; briefs record it). A store
    # made before this gets it at its next run or brief; OR IGNORE keeps the one it has.
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))
    fts_config = {k for (k,) in conn.execute("SELECT k FROM statements_fts_config "
                                             "WHERE k IN ('automerge', 'hashsize')")}
    if "automerge" not in fts_config:
        # Merge index segments 8 at a time instead of 4: a cold run's bulk inserts spend a
        # quarter less time in FTS; searches stay in tens of milliseconds (BENCHMARKS.md).
        conn.execute("INSERT INTO statements_fts(statements_fts, rank) VALUES ('automerge', 8)")
    if "hashsize" in fts_config:  # a cold run killed before restore_indexes: the default buffer again
        conn.execute("DELETE FROM statements_fts_config WHERE k = 'hashsize'")
    cols = {r[1] for r in conn.execute("PRAGMA table_info(files)")}
    for col in ("size", "mtime_ns"):  # stores written before files kept their stat
        if col not in cols:
            conn.execute(f"ALTER TABLE files ADD COLUMN {col} INTEGER")
    cols = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    for col in RUN_COUNTS_ADDED:  # stores written before runs counted duplicates and skipped files
        if col not in cols:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {col} INTEGER DEFAULT 0")
    if "gold_mask" not in {r[1] for r in conn.execute("PRAGMA table_info(statements)")}:
        conn.execute("ALTER TABLE statements ADD COLUMN gold_mask INTEGER")  # filled by the next re-tag
    # A store written before these counts existed: count once.
    missing_daily = (conn.execute("SELECT 1 FROM daily LIMIT 1").fetchone() is None
                     and conn.execute("SELECT 1 FROM statements LIMIT 1").fetchone() is not None)
    missing_speakers = (conn.execute("SELECT 1 FROM speakers LIMIT 1").fetchone() is None
                        and conn.execute("SELECT 1 FROM statements WHERE speaker != '' LIMIT 1").fetchone())
    if missing_daily or missing_speakers:
        rebuild_daily(conn)
    elif (conn.execute("SELECT 1 FROM daily_scores LIMIT 1").fetchone() is None
          and conn.execute("SELECT 1 FROM statements LIMIT 1").fetchone() is not None):
        with transaction(conn):  # a store written before score sums were kept: sum once
            _add_scores(conn, "1", (), +1)
    decode_titles(conn)
    return conn


def decode_titles(conn: sqlite3.Connection) -> int:
    """Once a store: decode the YAML escapes (``Trump\\u2019s``) that briefing-room titles stored
    before the reader decoded them still hold; a file is read again only when its bytes change, so
    nothing else would. The titles and the meta key ``titles_decoded`` (which ``queries.store_version``
    reads, so the dashboard's caches let go of the old titles) are written together. Returns the
    number of titles changed."""
    if get_meta(conn, "titles_decoded") is not None:
        return 0
    with transaction(conn):
        if get_meta(conn, "titles_decoded") is not None:  # another writer was first
            return 0
        rows = conn.execute("SELECT doc_id, title FROM documents WHERE format = ? AND instr(title, '\\') > 0",
                            (briefing.READER.name,)).fetchall()
        changes = [(new, doc_id) for doc_id, title in rows if (new := briefing.decode_stored_title(title)) != title]
        conn.executemany("UPDATE documents SET title = ? WHERE doc_id = ?", changes)
        conn.execute("INSERT INTO meta VALUES ('titles_decoded', ?)", (f"{_now()} {len(changes)} titles",))
    return len(changes)


def open_readonly(store: str | os.PathLike, cache_mb: int = 256) -> sqlite3.Connection:
    """Open a store for reading only (the dashboard, snapshots, exports). ``cache_mb``: the page
    cache; a reader that goes through the statements once (a brief's week) needs little."""
    path = db_path(store)
    if not path.exists():
        raise no_store(path)
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))  # a '?' or '#' in a folder name is no URI syntax
    try:
        try:
            return _read_connection(f"{uri}?mode=ro", cache_mb)
        except sqlite3.OperationalError:
            if not _frozen(path):
                raise
        # A WAL store is read through its -shm file, which SQLite creates beside the database; in a
        # folder nobody may write (an archived copy, a colleague's share) it cannot, and even a
        # read-only open fails. Then the store is opened as immutable: SQLite reads the file as it
        # is, without locks or a -shm file. That is only correct while nobody writes the store, so
        # it is used only when (1) this process cannot write the folder and (2) there is no -wal
        # file. A writer in WAL mode always keeps a -wal file beside the database while it is
        # connected, so (2) means no run is writing now, and (1) means no run of ours can start; what
        # is left is a run by someone who may write the folder (its owner) starting while we read:
        # we would not see its writes, and could read a page it is checkpointing. Accepted for a
        # folder we cannot write, in practice an archive: `status` and `export` take seconds (a
        # dashboard left open on such a store would show it as it was when opened).
        return _read_connection(f"{uri}?mode=ro&immutable=1", cache_mb)
    except sqlite3.DatabaseError as exc:
        hint = ""
        if not os.access(path.parent, os.W_OK) and Path(f"{path}-wal").exists():
            hint = (f"; its folder cannot be written and it has an unfinished write-ahead log ({path.name}-wal): "
                    "copy the store folder somewhere you can write and read the copy")
        raise StoreError(f"{path}: cannot read the store ({exc}){hint}") from exc


def _read_connection(uri: str, cache_mb: int) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        _configure(conn, cache_mb)
        conn.execute("SELECT 1 FROM statements LIMIT 1")
    except BaseException:
        conn.close()
        raise
    return conn


def _frozen(path: Path) -> bool:
    """Nobody writes this store now and no run of ours can: see ``open_readonly``."""
    return not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists()


def writable_folder(store: str | os.PathLike) -> Path:
    """The store's folder (made if missing) when a run can write in it; else a StoreError naming it
    and why: a path that is a file, a folder that cannot be made or cannot be written, a database
    file that cannot be written."""
    folder = db_path(store).parent
    if folder.is_file():
        raise StoreError(f"{folder}: is a file, not a store folder; give --store a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{folder}: cannot create the store folder ({exc.strerror or exc})") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"{folder}: the folder cannot be written, so a run cannot store anything in it "
                         "(status and export can still read the store)")
    db = db_path(store)
    if db.exists() and not os.access(db, os.W_OK):  # copied from read-only media, another user's
        raise StoreError(f"{db}: the store's database file cannot be written, so a run cannot store anything "
                         "in it (status and export can still read the store)")
    return folder


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error: all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def safe_text(text: str) -> str:
    """Text SQLite can store. A file name whose bytes are not UTF-8 reaches Python with lone
    surrogates (U+DC80..U+DCFF, one per such byte), which SQLite refuses: each becomes ``\\xNN``
    (the byte), any other lone surrogate ``\\uDNNN``; everything else is kept as it is."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(_escape_surrogate(c) for c in text)


def _escape_surrogate(c: str) -> str:
    n = ord(c)
    if 0xDC80 <= n <= 0xDCFF:
        return f"\\x{n - 0xDC00:02x}"
    return f"\\u{n:04x}" if 0xD800 <= n <= 0xDFFF else c


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# -- identity -------------------------------------------------------------------------------------
def read_store_id(conn: sqlite3.Connection) -> str | None:
    """The store's identity (a random id in its meta table), or None if none was made yet."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    return row[0] if row else None


def ensure_store_id(store: str | os.PathLike) -> str:
    """The store's identity (made when a run first opens the store, or here for a store no run has
    opened since); weekly snapshots record it, so that a snapshot folder is never taken for that of
    another store. A copy of the store folder is the same store."""
    conn = open_readonly(store)
    try:
        found = read_store_id(conn)
    finally:
        conn.close()
    if found:
        return found
    try:
        conn = sqlite3.connect(db_path(store), isolation_level=None)
        try:
            _configure(conn)
            # OR IGNORE: of two processes making it at once, the first one's id is everyone's.
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))
            return read_store_id(conn) or ""
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{db_path(store)}: cannot record the store's identity ({exc})") from exc


# -- topics and models --------------------------------------------------------------------------
def ensure_topics(conn: sqlite3.Connection, topics: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Give every topic a stable bit number; returns name -> bit."""
    with transaction(conn):
        for name, desc in topics:
            conn.execute("INSERT INTO topics(name, description) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET description=excluded.description", (name, desc))
    rows = conn.execute("SELECT name, topic_id FROM topics").fetchall()
    if any(bit > 62 for _, bit in rows):
        raise StoreError("more than 63 topics ever defined in this store; start a new store")
    return dict(rows)


def topic_bits(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT name, topic_id FROM topics ORDER BY topic_id").fetchall())


def register_model(conn: sqlite3.Connection, version: str, topics_hash: str, topics: list[str], info: dict) -> None:
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?, ?)",
                     (version, topics_hash, json.dumps(topics), json.dumps(info), _now()))


# -- runs -------------------------------------------------------------------------------------
def start_run(conn: sqlite3.Connection, inputs: list[str], model_version: str) -> int:
    with transaction(conn):
        # A run that never finished was killed; say so instead of leaving it 'running'.
        conn.execute("UPDATE runs SET status='interrupted' WHERE status='running'")
        cur = conn.execute("INSERT INTO runs(started_at, status, inputs, model_version) VALUES (?, 'running', ?, ?)",
                           (_now(), json.dumps([safe_text(x) for x in inputs]), model_version))
    return int(cur.lastrowid)


def _set_counts(conn: sqlite3.Connection, run_id: int, counts: dict, keep_larger: bool = False) -> None:
    """Write a run's counts (inside a transaction). ``keep_larger``: a count already written is kept
    when larger (counts only grow during a run; a batch's were written in its own transaction)."""
    cols = ", ".join(f"{k} = MAX({k}, ?)" if keep_larger else f"{k} = ?" for k in counts)
    conn.execute(f"UPDATE runs SET {cols} WHERE run_id = ?", (*counts.values(), run_id))


def record_run_counts(conn: sqlite3.Connection, run_id: int, counts: dict) -> None:
    """A running run's counts so far: what the run log shows should the run stop."""
    with transaction(conn):
        _set_counts(conn, run_id, counts)


def _log_problems(conn: sqlite3.Connection, run_id: int, refusals: list[tuple[str, int | None, str]],
                  notes: list[tuple[str, str]]) -> None:
    conn.executemany("INSERT INTO refusals VALUES (?, ?, ?, ?)",
                     [(run_id, safe_text(p), ln, safe_text(r)) for p, ln, r in refusals])
    conn.executemany("INSERT INTO notes VALUES (?, ?, ?)", [(run_id, safe_text(p), safe_text(n)) for p, n in notes])


def finish_run(conn: sqlite3.Connection, run_id: int, counts: dict,
               refusals: list[tuple[str, int | None, str]], notes: list[tuple[str, str]] = ()) -> None:
    with transaction(conn):
        _log_problems(conn, run_id, refusals, notes)
        _set_counts(conn, run_id, counts)
        conn.execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?",
                     (_now(), "refused files" if refusals else "ok", run_id))


def fail_run(conn: sqlite3.Connection, run_id: int, reason: str, counts: dict | None = None,
             refusals: list[tuple[str, int | None, str]] = (), notes: list[tuple[str, str]] = ()) -> None:
    """Mark a run that stopped on an error: never left 'running', and the status says why; with
    what it did until then (``counts``: written unless those of its stored batches are larger)."""
    if conn.in_transaction:  # the error came inside a transaction that is still open
        conn.execute("ROLLBACK")
    with transaction(conn):
        _log_problems(conn, run_id, refusals, notes)
        if counts:
            _set_counts(conn, run_id, counts, keep_larger=True)
        conn.execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?",
                     (_now(), safe_text(reason)[:500], run_id))


def mark_stopped(conn: sqlite3.Connection, run_id: int, status: str) -> None:
    """Give a finished run another status: it stored everything, but the command around it (its weekly
    snapshots) was stopped."""
    with transaction(conn):
        conn.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))


def mark_interrupted(conn: sqlite3.Connection, run_id: int, counts: dict | None = None,
                     refusals: list[tuple[str, int | None, str]] = (), notes: list[tuple[str, str]] = ()) -> None:
    """Log a run stopped by Ctrl-C or SIGTERM as interrupted (a killed one is, by the next run),
    with what it did until then, as ``fail_run``."""
    if conn.in_transaction:  # the signal came between BEGIN and the statement that follows it
        conn.execute("ROLLBACK")
    with transaction(conn):
        if counts:
            _log_problems(conn, run_id, refusals, notes)
            _set_counts(conn, run_id, counts, keep_larger=True)
        conn.execute("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE run_id = ? AND status = 'running'",
                     (_now(), run_id))


# -- files and documents -------------------------------------------------------------------------
@dataclass(frozen=True)
class FileState:
    """What the store knows of a path: its content hash and its size and mtime when hashed."""

    file_hash: str
    size: int | None
    mtime_ns: int | None


def file_states(conn: sqlite3.Connection) -> dict[str, FileState]:
    """Every known path (one query: a run compares thousands of paths against it), keyed as
    stored: look a path up by ``safe_text(path)``."""
    return {r[0]: FileState(r[1], r[2], r[3])
            for r in conn.execute("SELECT path, file_hash, size, mtime_ns FROM files")}


def update_stats(conn: sqlite3.Connection, stats: list[tuple[str, int, int]]) -> None:
    """Record new (path, size, mtime_ns) of files whose content did not change (touched files)."""
    if stats:
        with transaction(conn):
            conn.executemany("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                             [(size, mtime, safe_text(path)) for path, size, mtime in stats])


def stored_hash(conn: sqlite3.Connection, path: str) -> str | None:
    """The content hash the store has for ``path`` (None: an unknown path)."""
    row = conn.execute("SELECT file_hash FROM files WHERE path = ?", (safe_text(path),)).fetchone()
    return row[0] if row else None


def document_sources(conn: sqlite3.Connection, file_hash: str) -> list[tuple[str, str]]:
    """The (source, format) pairs of the documents stored from a file's content."""
    return conn.execute("SELECT DISTINCT source, format FROM documents WHERE file_hash = ?", (file_hash,)).fetchall()


def path_of_hash(conn: sqlite3.Connection, file_hash: str) -> str | None:
    row = conn.execute("SELECT path FROM documents WHERE file_hash = ? LIMIT 1", (file_hash,)).fetchone()
    return row[0] if row else None


def statements_of_path(conn: sqlite3.Connection, path: str) -> int:
    """How many statements the store holds from the content last stored for ``path`` (0: none)."""
    row = conn.execute("SELECT COALESCE(SUM(d.n_statements), 0) FROM files f JOIN documents d "
                       "ON d.file_hash = f.file_hash WHERE f.path = ?", (path,)).fetchone()
    return int(row[0])


_PUT_FILE = ("INSERT OR REPLACE INTO files(path, file_hash, format, run_id, seen_at, size, mtime_ns) "
             "VALUES (?, ?, ?, ?, ?, ?, ?)")


def remember_file(conn: sqlite3.Connection, path: str, file_hash: str, fmt: str, run_id: int,
                  stat: tuple[int, int] | None = None) -> None:
    with transaction(conn):
        conn.execute(_PUT_FILE, (safe_text(path), file_hash, fmt, run_id, _now(), *(stat or (None, None))))


def _delete_hash(conn: sqlite3.Connection, file_hash: str) -> int:
    docs = [r[0] for r in conn.execute("SELECT doc_id FROM documents WHERE file_hash = ?", (file_hash,))]
    removed = 0
    for doc_id in docs:
        _add_daily(conn, "doc_id = ?", (doc_id,), -1)
        _add_scores(conn, "doc_id = ?", (doc_id,), -1)
        removed += conn.execute("DELETE FROM statements WHERE doc_id = ?", (doc_id,)).rowcount
        conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
    return removed


_FACETS = "day, week, month, source, lang, role, topic_mask"


@dataclass
class DocumentWrite:
    """One document ready to store: its metadata and its statement rows (``statement_rows``).

    Built in the worker processes: plain tuples cross process boundaries several times more
    cheaply than dataclasses, and the main process (the only writer) only has to insert them.
    """

    document: Document  # its turns may be dropped: the rows carry the text
    rows: list[tuple]
    scores: tuple[list[tuple], list[tuple]] = ((), ())  # score_aggregates(rows), built beside them
    counts: tuple[list[tuple], list[tuple]] | None = None  # count_aggregates(rows), likewise


@dataclass
class FileWrite:
    """One read file, ready to store: its documents with their statement rows."""

    path: str
    file_hash: str
    format: str
    documents: list[DocumentWrite]
    stat: tuple[int, int] | None = None  # (size, mtime_ns) taken before the file was read


def is_empty(conn: sqlite3.Connection) -> bool:
    """No statement stored yet."""
    return conn.execute("SELECT 1 FROM statements LIMIT 1").fetchone() is None


# The full-text index's in-memory buffer during a cold run (FTS5's undocumented 'hashsize', 1 MB
# by default): a batch's terms then make one index segment, not one a megabyte, so there are
# fewer to merge. Kept for the bulk load only; see restore_indexes.
BULK_FTS_HASH = 64 << 20
# The statements' secondary indexes (the UNIQUE index on statement_id stays: it is a constraint).
SECONDARY_INDEXES = ("statements_agg", "statements_doc", "statements_speaker", "statements_model")


def defer_indexes(conn: sqlite3.Connection) -> bool:
    """Drop the statements' secondary indexes when the store holds no statement yet (a cold run),
    so that ``restore_indexes`` builds each in one sort after the bulk load: cheaper than keeping
    four B-trees up to date row by row (storing the corpus's rows: 17 s of CPU instead of 19-25 s,
    BENCHMARKS.md, session 26); and give the full-text index a larger buffer meanwhile.
    Nothing a run does while it stores files needs the indexes. Kill-safe: SCHEMA creates them
    when missing and ``open_store`` drops the buffer setting, so the next open puts the store
    back as it was should the run be killed before ``restore_indexes``. Returns whether the
    indexes were dropped."""
    with transaction(conn):
        if not is_empty(conn):
            return False
        for name in SECONDARY_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute(f"INSERT INTO statements_fts(statements_fts, rank) VALUES ('hashsize', {BULK_FTS_HASH})")
    return True


def restore_indexes(conn: sqlite3.Connection) -> None:
    """Build the secondary indexes ``defer_indexes`` dropped (SCHEMA's own statements) and give
    the full-text index back its default buffer (the setting's row deleted, as a store that never
    had it: this connection keeps the larger buffer, and it has no more text to index)."""
    with transaction(conn):
        for name in SECONDARY_INDEXES:
            conn.execute(_index_sql(name))
        conn.execute("DELETE FROM statements_fts_config WHERE k = 'hashsize'")


def _index_sql(name: str) -> str:
    """The ``CREATE INDEX IF NOT EXISTS`` statement of ``name`` in SCHEMA."""
    return re.search(rf"CREATE INDEX IF NOT EXISTS {name}\b[^;]*", SCHEMA).group(0)


def _last_sid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'statements'), 0)").fetchone()[0]


class FileBatch:
    """Files stored one at a time in one open transaction, committed together.

    A run stores each file as its worker hands it over, so the writer's work is spread over the
    run instead of coming in bursts that leave the workers waiting for it; the full-text index
    is filled and the transaction committed once per batch. Whole files, or none of the batch:
    any error (or Ctrl-C) while adding or committing rolls the batch back.
    """

    def __init__(self, conn: sqlite3.Connection, run_id: int) -> None:
        self.conn, self.run_id = conn, run_id
        self._first: int | None = None  # the last sid before the batch; None: no transaction open

    @property
    def open(self) -> bool:
        return self._first is not None

    def add(self, f: FileWrite) -> tuple[int, int, list[DocumentWrite]]:
        """Store ``f`` (not yet committed): (added, removed, the documents stored)."""
        if self._first is None:
            self.conn.execute("BEGIN IMMEDIATE")
            self._first = _last_sid(self.conn)
        try:
            return _write_file(self.conn, f, self.run_id)
        except BaseException:
            self.rollback()
            raise

    def commit(self, counts: dict | None = None) -> None:
        """Index the batch's statements for full-text search, log the run's ``counts`` with them,
        and commit."""
        if self._first is None:
            return
        try:
            self.conn.execute("INSERT INTO statements_fts(rowid, text) SELECT sid, text FROM statements "
                              "WHERE sid > ?", (self._first,))
            if counts is not None:
                _set_counts(self.conn, self.run_id, counts)
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        self._first = None

    def rollback(self) -> None:
        """Drop what the batch stored since its last commit (nothing when none is open)."""
        if self._first is not None:
            self._first = None
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")


def count_aggregates(rows: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The ``daily`` and ``speakers`` rows (counts) of some statement rows, computed where the
    rows are built (in the workers): the writer adds them up instead of grouping what it inserted."""
    daily = Counter((r[3], r[4], r[5], r[6], r[7], r[10], r[ROW_MASK]) for r in rows)
    speakers = Counter(r[9] for r in rows if r[9])  # as `speaker != ''`: no NULL, no empty name
    return [k + (n,) for k, n in daily.items()], list(speakers.items())


_UPSERT_DAILY = (f"INSERT INTO daily({_FACETS}, n) VALUES (?,?,?,?,?,?,?,?) "
                 "ON CONFLICT(day, source, lang, role, topic_mask) DO UPDATE SET n = n + excluded.n")
_UPSERT_SPEAKERS = "INSERT INTO speakers(speaker, n) VALUES (?,?) ON CONFLICT(speaker) DO UPDATE SET n = n + excluded.n"



def _add_daily(conn: sqlite3.Connection, where: str, args: tuple, sign: int, speakers: bool = True) -> None:
    """Add (sign +1) or remove (-1) the statements matching ``where`` from the daily counts (and,
    unless ``speakers`` is false, from the per-speaker counts)."""
    conn.execute(f"INSERT INTO daily({_FACETS}, n) SELECT {_FACETS}, {sign} * COUNT(*) FROM statements "
                 f"WHERE {where} GROUP BY {_FACETS} ON CONFLICT(day, source, lang, role, topic_mask) "
                 "DO UPDATE SET n = n + excluded.n", args)
    if speakers:
        conn.execute(f"INSERT INTO speakers(speaker, n) SELECT speaker, {sign} * COUNT(*) FROM statements "
                     f"WHERE ({where}) AND speaker != '' GROUP BY speaker "
                     "ON CONFLICT(speaker) DO UPDATE SET n = n + excluded.n", args)
    if sign < 0:  # only a removal can bring a count to zero
        conn.execute("DELETE FROM daily WHERE n = 0")
        if speakers:
            conn.execute("DELETE FROM speakers WHERE n = 0")


def rebuild_daily(conn: sqlite3.Connection) -> None:
    """Recount the daily, per-speaker and score tables from the statements (after bulk changes)."""
    with transaction(conn):
        for table in ("daily", "speakers", "daily_scores", "score_hist"):
            conn.execute(f"DELETE FROM {table}")
        _add_daily(conn, "1", (), +1)
        _add_scores(conn, "1", (), +1)


# Inner edges of the score histogram's bins (pipeline.correction.BIN_EDGES without its ends).
HIST_EDGES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9)
_SQL_BIN = " + ".join(f"(j.value >= {e})" for e in HIST_EDGES)
_SCORE_FACETS = "day, week, month, source, lang, role"
_UPSERT_SCORES = ("INSERT INTO daily_scores(day, week, month, source, lang, role, labelled, topic, n, s1, s2) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(day, source, lang, role, labelled, topic) "
                  "DO UPDATE SET n = n + excluded.n, s1 = s1 + excluded.s1, s2 = s2 + excluded.s2")
# A statement's value for a topic: its people-given label where it has one, else its score.
_SQL_VALUE = "(CASE WHEN s.gold_mask IS NULL THEN j.value ELSE (s.gold_mask >> t.topic_id) & 1 END)"
_UPSERT_HIST = ("INSERT INTO score_hist(month, source, topic, bin, n) VALUES (?,?,?,?,?) "
                "ON CONFLICT(month, source, topic, bin) DO UPDATE SET n = n + excluded.n")


def _add_scores(conn: sqlite3.Connection, where: str, args: tuple, sign: int) -> None:
    """Add (+1) or remove (-1) the scores of the statements matching ``where`` from the score
    sums and histograms, reading the stored scores (deletions, re-tagging, rebuilds)."""
    facets = ", ".join(f"s.{c.strip()}" for c in _SCORE_FACETS.split(","))
    conn.execute(f"INSERT INTO daily_scores({_SCORE_FACETS}, labelled, topic, n, s1, s2) "
                 f"SELECT {facets}, s.gold_mask IS NOT NULL, j.key, {sign} * COUNT(*), {sign} * SUM({_SQL_VALUE}), "
                 f"{sign} * SUM({_SQL_VALUE} * {_SQL_VALUE}) FROM statements s, json_each(s.scores) j "
                 f"LEFT JOIN topics t ON t.name = j.key WHERE {where} GROUP BY {facets}, 7, j.key "
                 "ON CONFLICT(day, source, lang, role, labelled, topic) "
                 "DO UPDATE SET n = n + excluded.n, s1 = s1 + excluded.s1, s2 = s2 + excluded.s2", args)
    conn.execute(f"INSERT INTO score_hist(month, source, topic, bin, n) "
                 f"SELECT s.month, s.source, j.key, {_SQL_BIN}, {sign} * COUNT(*) "
                 f"FROM statements s, json_each(s.scores) j WHERE ({where}) AND s.gold_mask IS NULL "
                 "GROUP BY 1, 2, 3, 4 ON CONFLICT(month, source, topic, bin) DO UPDATE SET n = n + excluded.n", args)
    if sign < 0:
        conn.execute("DELETE FROM daily_scores WHERE n = 0")
        conn.execute("DELETE FROM score_hist WHERE n = 0")


def score_aggregates(rows: list[tuple], bits: dict[str, int],
                     scores: list[dict[str, float]] | TaggedBatch | None = None) -> tuple[list[tuple], list[tuple]]:
    """The score-sum and histogram rows of some statement rows (``statement_rows``), computed
    where the rows are built (in the workers) so that the single writer only adds them up.
    ``scores``: the rows' scores when at hand, as dicts or as the tagger's arrays (else read from the
    rows' JSON); a row of the labelled set counts its label instead of its score, and stays out of
    the histograms."""
    import numpy as np  # (numpy is loaded wherever statements are tagged; a bare store need not)

    if not rows:
        return [], []
    if scores is None:  # one parse of all the rows' JSON costs half as much as one per row
        scores = json.loads(f"[{','.join(r[ROW_SCORES] or '{}' for r in rows)}]")
    n = len(rows)
    # Each row's group in the two tables, numbered in order of first appearance; the sums are then
    # one bincount per topic. bincount adds the rows in their order, as a loop over them would.
    groups: dict[tuple, int] = {}
    cells: dict[tuple, int] = {}
    gid = np.fromiter((groups.setdefault((r[3], r[4], r[5], r[6], r[7], r[10], int(r[ROW_GOLD] is not None)),
                                         len(groups)) for r in rows), dtype=np.intp, count=n)
    hid = np.fromiter((cells.setdefault((r[5], r[6]), len(cells)) for r in rows), dtype=np.intp, count=n)
    gold = np.fromiter((r[ROW_GOLD] or 0 for r in rows), dtype=np.int64, count=n)
    labelled = np.fromiter((r[ROW_GOLD] is not None for r in rows), dtype=bool, count=n)
    if isinstance(scores, TaggedBatch):
        topics, values = list(scores.topics), scores.scores
    elif all(tuple(sc) == tuple(scores[0]) for sc in scores):  # one model's scores: the same topics in every row
        topics = list(scores[0])
        values = np.array([list(sc.values()) for sc in scores], dtype=float).reshape(n, len(topics))
    else:
        topics = list(dict.fromkeys(t for sc in scores for t in sc))
        values = np.array([[sc.get(t, np.nan) for t in topics] for sc in scores], dtype=float)
    group_keys, cell_keys = list(groups), list(cells)
    n_bins = len(HIST_EDGES) + 1
    sums, hist = [], []
    for j, topic in enumerate(topics):
        v = values[:, j]
        has = ~np.isnan(v)  # (only where the topics differ between rows: a row without this one)
        if topic in bits:
            v = np.where(labelled, ((gold >> bits[topic]) & 1).astype(float), v)
        g, v = gid[has], v[has]
        count = np.bincount(g, minlength=len(group_keys))
        s1 = np.bincount(g, weights=v, minlength=len(group_keys))
        s2 = np.bincount(g, weights=v * v, minlength=len(group_keys))
        for k in np.flatnonzero(count).tolist():
            sums.append(group_keys[k] + (topic, int(count[k]), float(s1[k]), float(s2[k])))
        free = has & ~labelled
        b = np.searchsorted(HIST_EDGES, values[free, j], side="right")  # = bisect_right
        per_cell = np.bincount(hid[free] * n_bins + b, minlength=len(cell_keys) * n_bins)
        for k in np.flatnonzero(per_cell).tolist():
            hist.append(cell_keys[k // n_bins] + (topic, k % n_bins, int(per_cell[k])))
    return sums, hist


def _write_file(conn: sqlite3.Connection, f: FileWrite, run_id: int) -> tuple[int, int, list[DocumentWrite]]:
    """Replace what the path held before with this file's documents (inside a transaction)."""
    path, file_hash, fmt, documents = safe_text(f.path), f.file_hash, f.format, f.documents
    removed = 0
    old = conn.execute("SELECT file_hash FROM files WHERE path = ?", (path,)).fetchone()
    if old and old[0] != file_hash:
        still_used = conn.execute("SELECT 1 FROM files WHERE file_hash = ? AND path != ? LIMIT 1",
                                  (old[0], path)).fetchone()
        if not still_used:
            removed = _delete_hash(conn, old[0])
    added, stored = 0, []
    for dw in documents:
        doc = dw.document
        if conn.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc.doc_id,)).fetchone():
            continue
        stored.append(dw)
        conn.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
            doc.doc_id, file_hash, safe_text(doc.path), fmt, doc.date.isoformat(), doc.source, doc.lang,
            doc.title, doc.url, len(dw.rows), run_id))
        conn.executemany(
            "INSERT INTO statements(statement_id, doc_id, date, day, week, month, source, lang, "
            "speaker_raw, speaker, role, position, text, topic_mask, scores, model_version, gold_mask) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", dw.rows)
        sums, hist = dw.scores if dw.scores[0] or not dw.rows else score_aggregates(dw.rows, topic_bits(conn))
        conn.executemany(_UPSERT_SCORES, sums)
        conn.executemany(_UPSERT_HIST, hist)
        daily, speakers = dw.counts if dw.counts is not None else count_aggregates(dw.rows)
        conn.executemany(_UPSERT_DAILY, daily)
        conn.executemany(_UPSERT_SPEAKERS, speakers)
        added += len(dw.rows)
    conn.execute(_PUT_FILE, (path, file_hash, fmt, run_id, _now(), *(f.stat or (None, None))))
    return added, removed, stored


def _mask(topics: Iterable[str], bits: dict[str, int]) -> int:
    m = 0
    for t in topics:
        m |= 1 << bits[t]
    return m


ROW_MASK = 13  # position of topic_mask in a statement row
ROW_SCORES = 14
ROW_GOLD = 16  # gold_mask


def tag_columns(tags: TaggedBatch, bits: dict[str, int]) -> tuple[list[int], list[str]]:
    """Per text of a batch, its topic mask (``_mask`` of the topics it hits) and its scores as JSON
    (``json.dumps(scores, separators=(",", ":"))``, by a prepared format: float repr is what json
    writes for finite floats), computed for the whole batch at once (a test holds them to those)."""
    import numpy as np  # (numpy is loaded wherever statements are tagged; a bare store need not)

    # Topic bits are at most 62 (ensure_topics), so a mask fits a signed 64-bit integer.
    weights = np.array([1 << bits[t] for t in tags.topics], dtype=np.int64)
    masks = (tags.hits.astype(np.int64) @ weights).tolist()
    from pipeline.tagger import kernel

    lib = kernel.library()
    js = kernel.scores_json(lib, tags.scores, tuple(tags.topics)) if lib is not None else None
    if js is None:
        fmt = _scores_format(tags.topics)
        js = [fmt % tuple(row) for row in tags.scores.tolist()]
    return masks, js


def statement_rows(doc: Document, stmts: list[Statement], tags: TaggedBatch, bits: dict[str, int],
                   model_version: str, gold: list[tuple[str, ...] | None] | None = None) -> list[tuple]:
    """The rows ``FileBatch`` inserts for a document's tagged statements (a pure function).
    ``gold``: per statement, the topics people gave its text in the labelled set (None: not labelled)."""
    # Dates are per document; computing them once per statement was a measurable share of a cold run.
    d = doc.date
    dates = _dates(d)
    gold = gold or [None] * len(stmts)
    masks, scores = tag_columns(tags, bits)
    return [(s.statement_id, s.doc_id, *(dates if s.date == d else _dates(s.date)), s.source, s.lang,
             s.speaker_raw, s.speaker, s.role, s.position, s.text, m, js,
             model_version, None if g is None else _mask([x for x in g if x in bits], bits))
            for s, m, js, g in zip(stmts, masks, scores, gold)]


def _dates(d: dt.date) -> tuple[str, int, int, int]:
    """date, day, week (its Monday) and month (its first day) columns of a date."""
    day = day_number(d)
    return d.isoformat(), day, day - d.weekday(), day_number(d.replace(day=1))


@lru_cache(maxsize=16)
def _scores_format(names: tuple[str, ...]) -> str:
    return "{" + ",".join(json.dumps(n).replace("%", "%%") + ":%r" for n in names) + "}"


# -- retagging ----------------------------------------------------------------------------------
STATEMENT_COLUMNS = ("statement_id, doc_id, date, day, week, month, source, lang, speaker_raw, speaker, role, "
                     "position, text, topic_mask, scores, model_version, gold_mask")
ROW_TEXT = 12


def stale_rows(conn: sqlite3.Connection, model_version: str, batch: int) -> Iterator[list[tuple]]:
    """Batches of the statements tagged by another model than ``model_version``: their rows as
    ``statement_rows`` makes them, each followed by its sid (what ``retag_rows`` reads)."""
    if conn.execute("SELECT 1 FROM statements WHERE model_version < ? OR model_version > ? "
                    "OR model_version IS NULL LIMIT 1", (model_version, model_version)).fetchone() is None:
        return
    last = 0
    while True:
        rows = conn.execute(f"SELECT {STATEMENT_COLUMNS}, sid FROM statements WHERE sid > ? AND "
                            "(model_version IS NULL OR model_version != ?) ORDER BY sid LIMIT ?",
                            (last, model_version, batch)).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][-1]


@dataclass
class Retag:
    """A batch of statements tagged again, ready to store: their new tags (``updates``: topic_mask,
    scores, model_version, gold_mask, sid) and what that changes in the count and score tables."""

    updates: list[tuple]
    daily: list[tuple]
    sums: list[tuple]
    hist: list[tuple]
    days: tuple[int, int]    # first and last day of the batch's statements
    months: tuple[int, int]


def retag_rows(rows: list[tuple], tags: TaggedBatch, bits: dict[str, int], model_version: str,
               gold: list[tuple[str, ...] | None] | None = None) -> Retag:
    """The new tags of ``stale_rows`` rows and the changes they make to the count and score tables,
    computed in Python (in the workers) from the old and new rows: a pure function."""
    gold = gold or [None] * len(rows)
    masks, scores = tag_columns(tags, bits)
    new = [r[:ROW_MASK] + (m, js, model_version, None if g is None else _mask([x for x in g if x in bits], bits))
           for r, m, js, g in zip(rows, masks, scores, gold)]
    daily: Counter = Counter()
    for sign, part in ((-1, rows), (+1, new)):
        for *key, n in count_aggregates(part)[0]:
            daily[tuple(key)] += sign * n
    sums: dict[tuple, list] = {}
    hist: Counter = Counter()
    for sign, (s_rows, h_rows) in ((-1, score_aggregates(rows, bits)),
                                   (+1, score_aggregates(new, bits, tags))):
        for *key, n, s1, s2 in s_rows:
            acc = sums.setdefault(tuple(key), [0, 0.0, 0.0])
            acc[0] += sign * n
            acc[1] += sign * s1
            acc[2] += sign * s2
        for *key, n in h_rows:
            hist[tuple(key)] += sign * n
    days = [r[3] for r in rows]
    months = [r[5] for r in rows]
    return Retag([r[ROW_MASK:] + (old[-1],) for r, old in zip(new, rows)],
                 [k + (n,) for k, n in daily.items() if n],
                 [k + tuple(v) for k, v in sums.items() if v[0] or v[1] or v[2]],
                 [k + (n,) for k, n in hist.items() if n],
                 (min(days), max(days)), (min(months), max(months)))


def write_retag(conn: sqlite3.Connection, r: Retag) -> None:
    """Store a batch of new tags and their changes to the count and score tables (one transaction)."""
    with transaction(conn):
        conn.executemany("UPDATE statements SET topic_mask = ?, scores = ?, model_version = ?, gold_mask = ? "
                         "WHERE sid = ?", r.updates)
        conn.executemany(_UPSERT_DAILY, r.daily)
        conn.executemany(_UPSERT_SCORES, r.sums)
        conn.executemany(_UPSERT_HIST, r.hist)
        # Only a removal brings a count to zero, and only within the batch's days (the tables' keys
        # start with the day or month, so these deletes read just that range).
        conn.execute("DELETE FROM daily WHERE day BETWEEN ? AND ? AND n = 0", r.days)
        conn.execute("DELETE FROM daily_scores WHERE day BETWEEN ? AND ? AND n = 0", r.days)
        conn.execute("DELETE FROM score_hist WHERE month BETWEEN ? AND ? AND n = 0", r.months)


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def set_gold(conn: sqlite3.Connection, known: dict[str, tuple[str, ...]], key, bits: dict[str, int]) -> int:
    """Mark every statement whose text the labelled set holds (``key(text)`` in ``known``) with its
    labels, unmark the others, and recount the score tables if anything changed. Returns the
    number of statements whose mark changed."""
    changes = []
    for sid, text, old in conn.execute("SELECT sid, text, gold_mask FROM statements"):
        g = known.get(key(text))
        new = None if g is None else _mask([x for x in g if x in bits], bits)
        if new != old:
            changes.append((new, sid))
    if changes:
        with transaction(conn):
            conn.executemany("UPDATE statements SET gold_mask = ? WHERE sid = ?", changes)
            conn.execute("DELETE FROM daily_scores")
            conn.execute("DELETE FROM score_hist")
            _add_scores(conn, "1", (), +1)
    return len(changes)


def checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the WAL into the database file (keeps the -wal file from growing without bound)."""
    for _ in range(3):
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
        time.sleep(0.2)


# -- the benchmark's larger stores ----------------------------------------------------------------
def replicate_shifted(conn: sqlite3.Connection, times: int) -> None:
    """Make the store ``times`` as large (``python -m bench``): its statements and documents copied
    ``times - 1`` times, each copy's dates shifted by a whole multiple of the store's span (in whole
    weeks, so ISO weeks stay aligned) and its ids suffixed ``~k``; then recount, analyse, checkpoint."""
    lo, hi = conn.execute("SELECT MIN(day), MAX(day) FROM statements").fetchone()
    span = ((hi - lo) // 7 + 2) * 7
    for k in range(1, times):
        shift = k * span
        with transaction(conn):
            first = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'statements'").fetchone()[0]
            conn.execute(f"INSERT INTO documents(doc_id, file_hash, path, format, date, source, lang, title, url, "
                         f"n_statements, run_id) SELECT doc_id || '~{k}', file_hash || '~{k}', path, format, "
                         f"date(date, '+{shift} days'), source, lang, title, url, n_statements, run_id "
                         f"FROM documents WHERE doc_id NOT LIKE '%~%'")
            conn.execute(
                "INSERT INTO statements(statement_id, doc_id, date, day, week, month, source, lang, speaker_raw, "
                "speaker, role, position, text, topic_mask, scores, model_version) "
                f"SELECT statement_id || '~{k}', doc_id || '~{k}', date(date, '+{shift} days'), day + {shift}, "
                f"week + {shift}, CAST(julianday(date(date, '+{shift} days', 'start of month')) - 2440587.5 "
                "AS INTEGER), source, lang, speaker_raw, speaker, role, position, text, topic_mask, scores, "
                f"model_version FROM statements WHERE doc_id NOT LIKE '%~%'")
            conn.execute("INSERT INTO statements_fts(rowid, text) SELECT sid, text FROM statements WHERE sid > ?",
                         (first,))
    rebuild_daily(conn)
    conn.execute("ANALYZE")
    checkpoint(conn)


# -- model versions side by side (pipeline/labelling.py) ------------------------------------------------
def keep_version_tags(conn: sqlite3.Connection) -> None:
    """Copy the served tags of every model version into ``version_tags`` (where not kept yet), so
    that a later version can be compared with them."""
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO version_tags(version, sid, topic_mask) "
                     "SELECT model_version, sid, topic_mask FROM statements WHERE model_version IS NOT NULL")


def swap_in_version(conn: sqlite3.Connection, version: str,
                    gold: list[tuple[int | None, int]] = ()) -> int:
    """Serve ``version``'s tags (written into ``version_tags`` beforehand) in one transaction:
    readers see the old tags until the commit, then the new ones with their counts. ``gold``:
    (gold_mask, sid) marks to set at the same time. Returns the statements swapped."""
    with transaction(conn):
        n = conn.execute("UPDATE statements SET topic_mask = v.topic_mask, scores = v.scores, model_version = ? "
                         "FROM version_tags v WHERE v.version = ? AND v.sid = statements.sid "
                         "AND v.scores IS NOT NULL", (version, version)).rowcount
        conn.executemany("UPDATE statements SET gold_mask = ? WHERE sid = ?", gold)
        for table in ("daily", "daily_scores", "score_hist"):
            conn.execute(f"DELETE FROM {table}")
        _add_daily(conn, "1", (), +1, speakers=False)
        _add_scores(conn, "1", (), +1)
        # The served table holds the scores now; the side table keeps the topics only.
        conn.execute("UPDATE version_tags SET scores = NULL WHERE version = ?", (version,))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('tags_swapped_at', ?)", (f"{version} {_now()}",))
    return n
