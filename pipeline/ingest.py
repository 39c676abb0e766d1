"""A run: expand inputs, read and tag new files (in parallel), store each file atomically."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import store as st
from pipeline.errors import InputError
from pipeline.readers import ReadResult, folder_source, iter_files, read_bytes
from pipeline.readers.common import content_hash
from pipeline.records import Document, Statement, Tagged
from pipeline.segment import segment
from pipeline.tagger import DEFAULT_MODEL, load_model, model_info
from pipeline.tagger.topics import DEFAULT_TOPICS, load_topics

RETAG_BATCH = 5000
# Files are committed together until this many statements or seconds have gathered: large
# enough to keep the full-text index fast, small enough that readers see progress.
COMMIT_STATEMENTS = 20000
COMMIT_SECONDS = 2.0


@dataclass
class RunSummary:
    """What a run did; printed at its end and kept in the store's run log."""

    run_id: int = 0
    files_read: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_refused: int = 0
    lines_refused: int = 0
    statements_added: int = 0
    statements_removed: int = 0
    statements_retagged: int = 0
    refusals: list[tuple[str, int | None, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    topics_added: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        keys = ("files_read", "files_new", "files_changed", "files_unchanged", "files_refused",
                "lines_refused", "statements_added", "statements_removed", "statements_retagged")
        return {k: getattr(self, k) for k in keys}


def process_file(path: str, data: bytes, fmt: str, source: str | None, model_path: str
                 ) -> tuple[ReadResult, list[tuple[Document, list[Statement], list[Tagged]]]]:
    """Read, segment and tag one file. Pure apart from loading the (cached) model."""
    result = read_bytes(data, path, fmt, source, folder_source(Path(path).parent))
    model = load_model(model_path)
    out = []
    for doc in result.documents:
        stmts = segment(doc)
        out.append((doc, stmts, model.tag([s.text for s in stmts])))
    return result, out


def _work(args: tuple) -> tuple[str, object]:
    path, fmt, source, model_path = args
    try:
        # Read again here rather than ship the bytes: memory stays flat whatever the number of files.
        data = Path(path).read_bytes()
        return path, process_file(path, data, fmt, source, model_path)
    except InputError as exc:
        return path, exc
    except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the run
        return path, InputError(path, f"could not be processed ({type(exc).__name__}: {exc})")


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


def run(inputs: list[str], store: str, *, fmt: str = "auto", source: str | None = None,
        model_path: str | os.PathLike = DEFAULT_MODEL, topics_path: str | os.PathLike = DEFAULT_TOPICS,
        workers: int | None = None, progress: bool = False) -> RunSummary:
    """Ingest files and folders into the store; only new or changed files are read."""
    t0 = time.time()
    # The writing process needs only the model's identity; workers load the model itself.
    model = model_info(str(model_path)) if (workers or 2) > 1 else load_model(str(model_path))
    topics, topics_hash = load_topics(topics_path)
    missing = set(model.topics) - {t.name for t in topics}
    conn = st.open_store(store)
    summary = RunSummary()
    try:
        bits = st.ensure_topics(conn, [(t.name, t.description) for t in topics]
                                + [(name, "") for name in sorted(missing)])
        st.register_model(conn, model.version, model.topics_hash or topics_hash, list(model.topics), model.info)
        summary.run_id = run_id = st.start_run(conn, [str(x) for x in inputs], model.version)
        files, problems = iter_files([str(x) for x in inputs])
        for p in problems:
            summary.refusals.append((p.path, p.line, p.reason))
            summary.files_refused += 1
        # Decide what is new before doing any work: unchanged files are hashed, not parsed.
        todo: list[tuple] = []
        for path in files:
            summary.files_read += 1
            key = str(Path(path).resolve())
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                summary.refusals.append((path, None, f"cannot read: {exc.strerror or exc}"))
                summary.files_refused += 1
                continue
            h = content_hash(data)
            known = st.file_state(conn, key)
            if known == h:
                summary.files_unchanged += 1
                continue
            twin = st.path_of_hash(conn, h)
            if twin is not None and known is None:
                # The same content under another name: remember the name, store nothing twice.
                st.remember_file(conn, key, h, "duplicate", run_id)
                summary.files_unchanged += 1
                continue
            todo.append((key, fmt, source, str(model_path), known is not None))
            del data
        bar = Progress(len(todo), progress)
        jobs = [t[:4] for t in todo]
        changed = {t[0] for t in todo if t[4]}
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        results = _results(jobs, n_workers)
        pending: list[st.FileWrite] = []
        pending_n, last_commit = 0, time.time()

        def commit() -> None:
            nonlocal pending, pending_n, last_commit
            if pending:
                counts = st.write_files(conn, pending, run_id=run_id, bits=bits, model_version=model.version)
                for fw, (added, removed) in zip(pending, counts):
                    summary.statements_added += added
                    summary.statements_removed += removed
                    if fw.path in changed:
                        summary.files_changed += 1
                    else:
                        summary.files_new += 1
            pending, pending_n, last_commit = [], 0, time.time()

        for path, outcome in results:
            bar.step()
            if isinstance(outcome, InputError):
                summary.refusals.append((outcome.path, outcome.line, outcome.reason))
                summary.files_refused += 1
                continue
            result, docs = outcome
            summary.notes.extend((path, n) for n in result.notes)
            for prob in result.problems:
                summary.refusals.append((prob.path, prob.line, prob.reason))
                summary.lines_refused += 1
            pending.append(st.FileWrite(path, result.file_hash, result.format, docs))
            pending_n += sum(len(stmts) for _, stmts, _ in docs)
            for _, _, tags in docs:
                for t in tags:
                    for name in t.topics:
                        summary.topics_added[name] = summary.topics_added.get(name, 0) + 1
            if pending_n >= COMMIT_STATEMENTS or time.time() - last_commit >= COMMIT_SECONDS:
                commit()
        commit()
        # Statements tagged by an older model are tagged again, so the store speaks with one model.
        tagger = None
        for rows in st.stale_statements(conn, model.version, RETAG_BATCH):
            tagger = tagger or load_model(str(model_path))  # loaded only when there is work
            st.retag(conn, rows, tagger.tag([r[1] for r in rows]), bits, model.version)
            summary.statements_retagged += len(rows)
        summary.seconds = round(time.time() - t0, 2)
        st.finish_run(conn, run_id, summary.counts(), summary.refusals, summary.notes)
        st.checkpoint(conn)
    finally:
        conn.close()
    return summary


def _results(jobs: list[tuple], workers: int):
    """Yield (path, outcome) in job order; in worker processes when there is enough work."""
    if workers <= 1 or len(jobs) < 4:
        for job in jobs:
            yield _work(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_work, jobs, chunksize=4)
