"""A run: expand inputs, read and tag new files (in parallel), store each file atomically."""

from __future__ import annotations

import itertools
import os
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline import settings
from pipeline import store as st
from pipeline.audit import check_labels, known_labels, labels_hash, text_key
from pipeline.errors import InputError, ModelError, StoreError, UsageError
from pipeline.lock import writer_lock
from pipeline.readers import ReadResult, check_stat, folder_source, iter_files, link_refusal, read_bytes, read_file
from pipeline.readers.common import content_hash
from pipeline.segment import segment
from pipeline.stages import Document, Statement, TaggedBatch
from pipeline.tagger import DEFAULT_MODEL, compiled_path, load_model, model_info
from pipeline.tagger.topics import DEFAULT_TOPICS, load_topics
from pipeline.workers import bounded_map, worker_pool

RETAG_BATCH = 5000
# Files are committed together until this many statements or seconds have gathered: large
# enough to keep the full-text index fast, small enough that readers see progress. 60,000 rather
# than 20,000: a cold run's writer spends 1-2 s of CPU less (fewer index segments to merge, fewer
# pages written again at each commit; BENCHMARKS.md). Each file is stored as it comes (in the
# batch's open transaction), so the batch holds no rows in memory.
COMMIT_STATEMENTS = 60000
COMMIT_SECONDS = 2.0
# Work handed to the workers ahead of the writer: enough to keep them busy while it commits a
# batch, counted in the files' bytes (AHEAD_BYTES), at most AHEAD_TASKS tasks of four files a
# worker. Counted in tasks alone, the window shrank six-fold where the corpus turns from long
# transcripts to short White House articles: the workers finished their few tasks and waited
# for the writer (about 2 s of a cold run with one core idle, BENCHMARKS.md).
AHEAD_BYTES = 16 << 20
AHEAD_TASKS = 128


@dataclass
class RunSummary:
    """What a run did; printed at its end and kept in the store's run log."""

    run_id: int = 0
    # Every file the inputs name or hold (of a known format) is exactly one of: new, changed,
    # unchanged, duplicate (its content is stored already, or comes twice in this run) or refused;
    # a refused path may be a folder. ``files_read``: those whose bytes were read (an unchanged
    # size and mtime spare the read). ``files_skipped``: files in input folders of no known format.
    files_read: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_duplicate: int = 0
    files_refused: int = 0
    files_skipped: int = 0
    lines_refused: int = 0
    statements_added: int = 0
    statements_removed: int = 0
    statements_retagged: int = 0
    refusals: list[tuple[str, int | None, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    topics_added: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # the files of no known format
    # Unchanged files stored with another source than this run gives them: (path, stored, given).
    source_kept: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0  # the run's own time; the command reports its whole time (command_seconds)

    @property
    def files_considered(self) -> int:
        return (self.files_new + self.files_changed + self.files_unchanged + self.files_duplicate
                + self.files_refused)

    def counts(self) -> dict[str, int]:
        keys = ("files_considered", "files_new", "files_changed", "files_unchanged", "files_duplicate",
                "files_refused", "files_read", "files_skipped", "lines_refused", "statements_added",
                "statements_removed", "statements_retagged")
        return {k: getattr(self, k) for k in keys}


def process_file(path: str, data: bytes, fmt: str, source: str | None, model_path: str, bits: dict[str, int]
                 ) -> tuple[ReadResult, list[st.DocumentWrite]]:
    """Read, segment and tag one file into rows ready to store. Pure apart from loading the
    (cached) model; ``bits`` maps topic names to their bit in the store's topic mask."""
    read = _segmented(path, data, fmt, source)
    model = load_model(model_path)
    return _stored_form(read, model.tag_arrays(_texts(read)), model.version, bits)


# A file read and segmented: what the reader found, and each document with its statements.
Segmented = tuple[ReadResult, list[tuple[Document, list[Statement]]]]


def _segmented(path: str, data: bytes, fmt: str, source: str | None) -> Segmented:
    result = read_bytes(data, path, fmt, source, folder_source(Path(path).parent))
    return result, [(doc, segment(doc)) for doc in result.documents]


def _texts(read: Segmented) -> list[str]:
    return [s.text for _, stmts in read[1] for s in stmts]


def _stored_form(read: Segmented, tags: TaggedBatch, version: str, bits: dict[str, int]
                 ) -> tuple[ReadResult, list[st.DocumentWrite]]:
    """The rows of a segmented file, given the tagger's verdicts on its statements (in order)."""
    result, docs = read
    known = known_labels()
    out, at = [], 0
    for doc, stmts in docs:
        doc_tags = tags.part(at, at + len(stmts))
        at += len(stmts)
        gold = [known.get(text_key(s.text)) for s in stmts]
        rows = st.statement_rows(doc, stmts, doc_tags, bits, version, gold)
        out.append(st.DocumentWrite(replace(doc, turns=()), rows, st.score_aggregates(rows, bits, doc_tags),
                                    st.count_aggregates(rows)))
    result.documents = []  # the rows carry the text: do not send it back to the writer twice
    return result, out


def _attempt(path: str, fn: Callable, *args) -> object:
    """``fn(*args)``, or the InputError that says why the file ``path`` could not be processed: one
    unreadable file must not stop the run."""
    try:
        return fn(*args)
    except InputError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001
        return InputError(path, f"could not be processed ({type(exc).__name__}: {exc})")


def _read_segmented(path: str, fmt: str, source: str | None) -> Segmented:
    # Read again here rather than ship the bytes: memory stays flat whatever the number of files.
    return _segmented(path, read_file(path), fmt, source)


def _work(args: tuple) -> tuple[str, object]:
    path, fmt, source, model_path, bits = args
    return path, _attempt(path, lambda: process_file(path, read_file(path), fmt, source, model_path, bits))


def _work_all(jobs: list[tuple]) -> list[tuple[str, object]]:
    """A task's files (as ``_work``), their statements tagged in one call: a call of the tagger
    costs one to two milliseconds whatever its batch, and a White House file holds some seventy
    statements, so tagging a document at a time cost a cold run about 4 s of CPU more
    (BENCHMARKS.md). The scores are the same: every statement is scored on its own."""
    _, _, _, model_path, bits = jobs[0]
    read = [(job[0], _attempt(job[0], _read_segmented, *job[:3])) for job in jobs]
    ok = [(path, r) for path, r in read if not isinstance(r, InputError)]
    try:
        model = load_model(model_path)
        tags = model.tag_arrays([t for _, r in ok for t in _texts(r)])
    except Exception:  # noqa: BLE001 - each file again on its own: the error goes to the file it is of
        return [_work(job) for job in jobs]
    stored, at = {}, 0
    for path, r in ok:
        n = sum(len(stmts) for _, stmts in r[1])
        stored[path] = _attempt(path, _stored_form, r, tags.part(at, at + n), model.version, bits)
        at += n
    return [(path, stored.get(path, r)) for path, r in read]


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled, self.t0 = total, 0, enabled and total > 0, time.time()

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.enabled and (self.done == self.total or self.done % 10 == 0):
            width = 30
            filled = int(width * self.done / self.total)
            rate = self.done / max(time.time() - self.t0, 1e-6)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} files "
                             f"({rate:.0f}/s)")
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def can_tag(model_path: str | os.PathLike, topics_path: str | os.PathLike) -> None:
    """ModelError unless the model file is there and the topics file reads, UsageError unless the
    labels setting names a folder: said before a run makes the store's folder, so that a run that
    cannot tag leaves no empty store behind."""
    if not Path(model_path).is_file():
        raise ModelError(f"{model_path}: no model file; run `python -m pipeline train` to build one")
    # A damaged file too: its hash matches no info written beside it, so it is loaded, and refused,
    # here (a sound one costs a hash of the file; a load is cached for the run's own model_info).
    model_info(model_path)
    load_topics(topics_path)
    labels = settings.labels_dir()
    if not labels.is_dir():  # a mistyped setting would silently count no statement as labelled
        raise UsageError(f"{labels}: not a folder; the labels setting (TOPICS_LABELS) names the folder of "
                         f"labelled statements (*.jsonl) the model learnt from (an empty folder: none)")
    check_labels(labels)


def run(inputs: list[str], store: str, *, fmt: str = "auto", source: str | None = None,
        model_path: str | os.PathLike = DEFAULT_MODEL, topics_path: str | os.PathLike = DEFAULT_TOPICS,
        workers: int | None = None, progress: bool = False, rehash: bool = False,
        lock_timeout: float | None = None, on_wait: Callable[[str], None] | None = None,
        while_indexing: Callable[[], None] | None = None) -> RunSummary:
    """Ingest files and folders into the store; only new or changed files are read.

    ``rehash`` hashes every file even when its size and modification time are unchanged (for
    file systems whose modification times cannot be trusted). One run writes to a store at a
    time: while another holds it, ``on_wait`` is told so and the run waits, for at most
    ``lock_timeout`` seconds when given (then ``StoreBusyError``). ``while_indexing`` is called
    once every row and count of a cold run is committed and nothing but building the statements'
    indexes is left (none of them is re-tagged or re-labelled after): it may start reading the
    count tables in a thread meanwhile (``snapshot.ExtrasAhead``).
    """
    can_tag(model_path, topics_path)
    with writer_lock(store, lock_timeout, on_wait):
        return _run(inputs, store, fmt=fmt, source=source, model_path=model_path, topics_path=topics_path,
                    workers=workers, progress=progress, rehash=rehash, while_indexing=while_indexing)


@dataclass
class _Run:
    """What every step of a run needs: the store, the run's id, the model and the topic bits."""

    conn: sqlite3.Connection
    summary: RunSummary
    model: object  # ModelInfo in the writer (workers load the model itself), or the loaded model
    model_path: str
    bits: dict[str, int]
    labels_hash: str
    workers: int


@dataclass
class _Plan:
    """The files a run has to read (``jobs``) and what it knows of them beforehand."""

    jobs: list[tuple] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # known paths whose content changed; other jobs are new
    stats: dict[str, tuple[int, int]] = field(default_factory=dict)  # (size, mtime_ns) when hashed
    # New paths whose content another job of this run has: (path, hash, stat, the job's path),
    # remembered once that job is stored (a run stopped before must not mark them as known).
    twins: list[tuple[str, str, tuple[int, int], str]] = field(default_factory=list)


def _run(inputs: list[str], store: str, *, fmt: str, source: str | None, model_path: str | os.PathLike,
         topics_path: str | os.PathLike, workers: int | None, progress: bool, rehash: bool,
         while_indexing: Callable[[], None] | None = None) -> RunSummary:
    t0 = time.time()
    summary = RunSummary()
    conn = st.open_store(store)
    try:
        r = _start(conn, summary, [str(x) for x in inputs], str(model_path), topics_path, workers)
        plan = _plan(r, [str(x) for x in inputs], fmt, source, rehash)
        deferred = bool(plan.jobs) and st.defer_indexes(conn)
        try:
            _store_files(r, plan, progress)
        except BaseException:
            if deferred:  # leave the store as readers expect it; failing that, the next open builds them
                with suppress(sqlite3.Error):
                    st.restore_indexes(conn)
            raise
        if deferred:
            # A cold run: every row is this run's, tagged by its model, so nothing is re-tagged after
            # the indexes; the labelled set is the one it started with unless it changed meanwhile.
            if while_indexing is not None and st.get_meta(conn, "labels_hash") == r.labels_hash:
                while_indexing()
            st.restore_indexes(conn)  # before the re-tag and the gold refresh, which query by them
        _remember_twins(r, plan)
        _retag_stale(r)
        _refresh_gold(r)
        # The write-ahead log folded into the database before the run is logged as finished: a
        # Ctrl-C during the checkpoint (a fraction of a second after a large run) then finds the
        # run still running and logs it interrupted; after the log said "ok" it stayed "ok" while
        # the command stopped, its briefs unwritten.
        st.checkpoint(conn)
        summary.seconds = round(time.time() - t0, 2)
        st.finish_run(conn, summary.run_id, summary.counts(), summary.refusals, summary.notes)
    except BaseException as exc:
        # Whatever stopped the run, the store must not show it 'running' forever.
        if summary.run_id:
            _record_stop(conn, summary, exc)
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"{st.db_path(store)}: {exc} (run {summary.run_id} stopped; every file stored "
                             "before it is whole)") from exc
        raise
    finally:
        conn.close()
    return summary


def _start(conn: sqlite3.Connection, summary: RunSummary, inputs: list[str], model_path: str,
           topics_path: str | os.PathLike, workers: int | None) -> _Run:
    """Step 1: the model's identity and the topics' bits in the store; the run is logged as started."""
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    # The writing process needs only the model's identity; workers load the model itself.
    model = model_info(model_path) if (workers or 2) > 1 else load_model(model_path)
    topics, topics_hash = load_topics(topics_path)
    missing = set(model.topics) - {t.name for t in topics}
    bits = st.ensure_topics(conn, [(t.name, t.description) for t in topics] + [(name, "") for name in sorted(missing)])
    st.register_model(conn, model.version, model.topics_hash or topics_hash, list(model.topics), model.info)
    summary.run_id = st.start_run(conn, inputs, model.version)
    lh = labels_hash()
    if st.is_empty(conn):
        st.set_meta(conn, "labels_hash", lh)  # every row this run writes is marked with these labels
    return _Run(conn, summary, model, model_path, bits, lh, n_workers)


def _plan(r: _Run, inputs: list[str], fmt: str, source: str | None, rehash: bool) -> _Plan:
    """Step 2: find the files and decide which are new or changed, before any of them is parsed.

    A path whose size and mtime are those it had when last hashed is unchanged; any other file
    is hashed, never parsed, when its content is known (under this path or, for a new path,
    another one: then only the name is remembered).
    """
    conn, summary, plan = r.conn, r.summary, _Plan()
    files, problems = iter_files(inputs, summary.skipped)
    summary.files_skipped = len(summary.skipped)
    for p in problems:
        _refuse_file(r, None, p.path, p.reason, p.line)
    known_files = st.file_states(conn)
    resolved_dirs: dict[str, str] = {}
    touched: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    planned: dict[str, str] = {}  # content hash -> the path of this run's job that has it
    sources = _SourceCheck(conn, source)
    for path in files:
        key = _resolve(path, resolved_dirs)
        if key in seen:  # the same file again: named twice, or a folder and a file in it
            summary.files_duplicate += 1
            continue
        seen.add(key)
        known = known_files.get(st.safe_text(key))
        try:
            info = os.stat(path)
            check_stat(path, info)  # a FIFO, a device or a huge file is refused before any read
            stat = (info.st_size, info.st_mtime_ns)
            if known is not None and not rehash and (known.size, known.mtime_ns) == stat:
                summary.files_unchanged += 1
                sources.check(path, known.file_hash)
                continue
            data = read_file(path)
        except InputError as exc:
            _refuse_file(r, key if known is not None else None, path, exc.reason)
            continue
        except OSError as exc:
            # A folder lists a link whose target is gone as a file: say so, as for a link named.
            refusal = link_refusal(path)
            _refuse_file(r, key if known is not None else None, path,
                         refusal.reason if refusal else f"cannot read: {exc.strerror or exc}")
            continue
        summary.files_read += 1
        h = content_hash(data)
        del data
        if known is not None and known.file_hash == h:
            touched.append((key, *stat))
            summary.files_unchanged += 1
            sources.check(path, h)
            continue
        if known is None and h in planned:  # two files of this run with the same bytes: one is read
            plan.twins.append((key, h, stat, planned[h]))
            summary.files_duplicate += 1
            continue
        twin = st.path_of_hash(conn, h)
        if twin is not None and known is None:
            # The same content under another name: remember the name, store nothing twice.
            st.remember_file(conn, key, h, "duplicate", summary.run_id, stat)
            summary.files_duplicate += 1
            continue
        planned[h] = key
        plan.stats[key] = stat
        plan.jobs.append((key, fmt, source, r.model_path, r.bits))
        if known is not None:
            plan.changed.add(key)
    summary.source_kept = sources.kept
    st.update_stats(conn, touched)
    st.record_run_counts(conn, summary.run_id, summary.counts())  # known now, should the run stop
    return plan


class _SourceCheck:
    """Finds unchanged files whose stored source is not the one this run would give them: a file
    is read again only when its bytes change, so a new --source or SOURCE file does not reach it."""

    def __init__(self, conn: sqlite3.Connection, source: str | None) -> None:
        self.conn, self.source = conn, source
        self.folders: dict[str, str | None] = {}
        self.kept: list[tuple[str, str, str]] = []

    def check(self, path: str, file_hash: str) -> None:
        folder = os.path.dirname(path)
        if self.source is None and folder not in self.folders:
            self.folders[folder] = folder_source(Path(folder))
        given = self.source or self.folders.get(folder)
        if given is None:
            return
        # --source sets every document's source; a SOURCE file only that of plain transcripts (the
        # other formats name their source, or their records do).
        formats = () if self.source else ("plain",)
        for stored, fmt in st.document_sources(self.conn, file_hash):
            if stored != given and (not formats or fmt in formats):
                self.kept.append((path, stored, given))
                return


def _remember_twins(r: _Run, plan: _Plan) -> None:
    """The new paths whose bytes another file of this run had: remembered now that it is stored
    (as files the store has under another name), or refused with it."""
    refused = {p: reason for p, line, reason in r.summary.refusals if line is None}
    for key, h, stat, first in plan.twins:
        if st.stored_hash(r.conn, first) == h:
            st.remember_file(r.conn, key, h, "duplicate", r.summary.run_id, stat)
        else:  # the first one was refused: this one is the same
            r.summary.files_duplicate -= 1
            r.summary.files_refused += 1
            r.summary.refusals.append((key, None, f"same content as {first}: "
                                                  f"{refused.get(first, 'not stored')}"))


class _Batch:
    """Files stored as they come, committed together: until this many statements or seconds have
    gathered, so that the full-text index is not flushed once per file. What each file stored is
    kept as counts only (its rows are in the store), and added to the run's summary at the commit."""

    def __init__(self, r: _Run, plan: _Plan, statements: int) -> None:
        self.r, self.plan, self.limit = r, plan, statements
        self.writer = st.FileBatch(r.conn, r.summary.run_id)
        self.pending = RunSummary()  # what the files stored since the last commit add to the summary
        self.n, self.last = 0, time.time()

    def add(self, fw: st.FileWrite) -> None:
        added, removed, docs = self.writer.add(fw)
        p = self.pending
        p.statements_added += added
        p.statements_removed += removed
        _count_topics(p, docs, self.r.bits)  # what was stored, not what was read
        if fw.path in self.plan.changed:
            p.files_changed += 1
        elif fw.documents and not docs:  # every document of it was stored already
            p.files_duplicate += 1
        else:
            p.files_new += 1
        self.n += sum(len(dw.rows) for dw in fw.documents)
        if self.n >= self.limit or time.time() - self.last >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        if self.writer.open:
            # The run's counts with this batch, written in the batch's transaction: a run stopped
            # (or killed) later still says what it stored. The summary itself counts the batch
            # once it is committed.
            after = _plus(self.r.summary, self.pending)
            self.writer.commit(after.counts())
            _plus_into(self.r.summary, self.pending)
        self.pending, self.n, self.last = RunSummary(), 0, time.time()

    def rollback(self) -> None:
        self.writer.rollback()


_ADDED = ("statements_added", "statements_removed", "files_changed", "files_duplicate", "files_new")


def _plus_into(summary: RunSummary, more: RunSummary) -> None:
    """Add the stored files' counts in ``more`` to ``summary``."""
    for name in _ADDED:
        setattr(summary, name, getattr(summary, name) + getattr(more, name))
    for topic, n in more.topics_added.items():
        summary.topics_added[topic] = summary.topics_added.get(topic, 0) + n


def _plus(summary: RunSummary, more: RunSummary) -> RunSummary:
    out = replace(summary, topics_added=dict(summary.topics_added))
    _plus_into(out, more)
    return out


def _refuse_file(r: _Run, known: str | None, path: str, reason: str, line: int | None = None) -> None:
    """Count a refused file; when the store holds statements of an earlier version of it (``known``
    is its stored path), the reason says they are kept: a refusal never deletes what was stored."""
    kept = st.statements_of_path(r.conn, st.safe_text(known)) if known is not None else 0
    if kept:
        reason += f"; the {kept:,} statements stored from its earlier version are kept"
    r.summary.refusals.append((path, line, reason))
    r.summary.files_refused += 1


def _store_files(r: _Run, plan: _Plan, progress: bool) -> None:
    """Step 3: read and tag the files in worker processes; store them as they come, in batches."""
    summary = r.summary
    batch = _Batch(r, plan, COMMIT_STATEMENTS)
    bar = Progress(len(plan.jobs), progress)
    results = _results(plan.jobs, r.workers, r.model_path, r.model.version, plan.stats)
    try:
        for path, outcome in results:
            bar.step()
            if isinstance(outcome, InputError):
                _refuse_file(r, path if path in plan.changed else None, outcome.path, outcome.reason, outcome.line)
                continue
            result, docs = outcome
            summary.notes.extend((path, n) for n in result.notes)
            for prob in result.problems:
                summary.refusals.append((prob.path, prob.line, prob.reason))
                summary.lines_refused += 1
            batch.add(st.FileWrite(path, result.file_hash, result.format, docs, plan.stats.get(path)))
        batch.commit()
    except BaseException:
        batch.rollback()  # the files of the open batch were not stored; the run says so when it stops
        raise
    finally:
        results.close()  # Ctrl-C, SIGTERM or an error while storing: the workers end now


def _count_topics(summary: RunSummary, docs: list[st.DocumentWrite], bits: dict[str, int]) -> None:
    masks = Counter(row[st.ROW_MASK] for dw in docs for row in dw.rows)
    for name, b in bits.items():
        n = sum(c for m, c in masks.items() if (m >> b) & 1)
        if n:
            summary.topics_added[name] = summary.topics_added.get(name, 0) + n


def _retag_stale(r: _Run) -> None:
    """Step 4: statements tagged by an older model are tagged again (in the workers), so that
    the store speaks with one model."""
    version = r.model.version
    batches = ((rows, r.model_path, r.bits, version) for rows in st.stale_rows(r.conn, version, RETAG_BATCH))
    # Closed: the workers end with an error.
    with closing(_mapped(_retag_work, batches, r.workers, r.model_path, version)) as retagged:
        for batch, n in retagged:
            st.write_retag(r.conn, batch)
            r.summary.statements_retagged += n


def _retag_work(args: tuple) -> tuple[st.Retag, int]:
    rows, model_path, bits, version = args
    tagger = load_model(model_path)  # cached per process: loaded only when there is work
    labelled = known_labels()
    texts = [row[st.ROW_TEXT] for row in rows]
    return (st.retag_rows(rows, tagger.tag_arrays(texts), bits, version, [labelled.get(text_key(t)) for t in texts]),
            len(rows))


def _refresh_gold(r: _Run) -> None:
    """Step 5: the labelled set changed (or the store predates it): say again which statements it holds."""
    if st.get_meta(r.conn, "labels_hash") != r.labels_hash:
        st.set_gold(r.conn, known_labels(), text_key, r.bits)
        st.set_meta(r.conn, "labels_hash", r.labels_hash)


_LOADED = time.time()


def command_seconds() -> float:
    """Seconds since this process started: what a stopwatch around the whole command shows
    (start-up, imports, the run and its snapshots), read from /proc where there is one."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            started = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: start time, in clock ticks
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return max(uptime - started / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return time.time() - _LOADED


def _record_stop(conn, summary: RunSummary, exc: BaseException) -> None:
    """Mark a run stopped by ``exc``: interrupted (Ctrl-C, SIGTERM) or failed, with the reason, and
    what it did until then (every file it stored is whole)."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    for detail in ((summary.counts(), summary.refusals, summary.notes), ()):
        try:
            if interrupted:
                st.mark_interrupted(conn, summary.run_id, *detail)
            else:
                st.fail_run(conn, summary.run_id, f"failed: {type(exc).__name__}: {exc}", *detail)
            return
        except sqlite3.Error:
            continue  # the store itself is what failed: at least the status, else the next run marks it


def _resolve(path: str, dirs: dict[str, str]) -> str:
    """The canonical path of a file (what the store keys files by), resolving each folder once.

    Equivalent to ``os.path.realpath`` but caches folders: thousands of files in a few folders
    (or symlinks into them) cost one directory walk each, not one per file.
    """
    current = path
    for _ in range(40):
        folder, name = os.path.split(os.path.abspath(current))
        real = dirs.get(folder)
        if real is None:
            real = dirs[folder] = os.path.realpath(folder)
        full = os.path.join(real, name)
        if not os.path.islink(full):
            return full
        current = os.path.join(real, os.readlink(full))
    return os.path.realpath(path)  # a symlink loop: let realpath say what it resolves to


def _results(jobs: list[tuple], workers: int, model_path: str, version: str,
             sizes: dict[str, tuple[int, int]] | None = None):
    """Yield (path, outcome) in job order; in worker processes when there is enough work."""
    chunks = (jobs[i:i + 4] for i in range(0, len(jobs), 4))
    if workers <= 1 or len(jobs) < 4:
        for chunk in chunks:
            yield from _work_all(chunk)
        return
    # The workers end with this process however it ends (killed included), and at once when the
    # run stops early (Ctrl-C, SIGTERM, an error while storing): see pipeline.workers.
    # Submitted a few at a time rather than with ``pool.map``: when the run stops, map's iterator
    # cancels the futures still queued behind the pool's back, and Python 3.11's pool then trips
    # over them while it ends (a traceback from its thread). Unsubmitted jobs need no cancelling.
    # Four files to a task, as map's chunks were: one file per task costs a tenth more time.
    # Files of up to AHEAD_BYTES ahead (about 28,000 transcript statements a worker): enough to keep the
    # workers busy while the writer commits a batch (8 tasks a worker left them waiting 1.5 s of a
    # cold run's 20, 32 tasks 0.3 s), and no more memory than the batch of rows the writer used to
    # hold until its commit.
    with _pool(workers, model_path, version) as pool:
        for outcomes in bounded_map(pool, _work_all, chunks, ahead=AHEAD_TASKS * workers,
                                    cost=lambda chunk: sum(_size(job[0], sizes) for job in chunk),
                                    budget=AHEAD_BYTES):
            yield from outcomes


def _size(path: str, sizes: dict[str, tuple[int, int]] | None) -> int:
    """The file's size as the plan saw it (its stat), else a typical transcript's."""
    stat = (sizes or {}).get(path)
    return stat[0] if stat else 1 << 16


def _mapped(fn: Callable, items: Iterator, workers: int, model_path: str, version: str) -> Iterator:
    """``fn`` of each item, in order: in worker processes when asked, with a few items in flight
    at a time (items are read from the store as the workers need them, not all at once)."""
    first = next(items, None)
    if first is None:
        return
    if workers <= 1:
        yield fn(first)
        for item in items:
            yield fn(item)
        return
    with _pool(workers, model_path, version) as pool:
        yield from bounded_map(pool, fn, itertools.chain([first], items), ahead=2 * workers)


@contextmanager
def _pool(workers: int, model_path: str, version: str) -> Iterator:
    """``worker_pool(workers)``, the compiled form of the model (of ``version``, as the run knows it)
    written first when it is missing."""
    _compile_model(model_path, version)
    with worker_pool(workers) as pool:
        yield pool


def _compile_model(model_path: str, version: str) -> None:
    """Write the model's compiled form in a process of its own when it is missing (a fresh clone's
    first run, a model file copied in): the workers would otherwise each build it from the skops
    file at once, importing scikit-learn twice over (about 370 MB and 4 s of CPU each), and this
    process, the writer, needs only the model's identity."""
    if compiled_path(Path(model_path), version).exists():
        return
    with worker_pool(1) as pool:
        pool.submit(_load_only, model_path).result()


def _load_only(model_path: str) -> None:
    """Load the model (writing its compiled form) and send nothing back: the loaded model, unpickled
    here, would import scikit-learn in this process after all."""
    load_model(model_path)
