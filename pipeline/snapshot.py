"""Weekly snapshots: a frozen brief of one ISO week (summary.json, statements.csv, report.html).

A snapshot is written once, for a completed week only (its Sunday before today); a later run,
model or correction never changes it. ``force`` writes a new one and keeps the previous version
beside it. Each brief records the id of the store it came from, and a snapshot folder holds the
briefs of one store (``.store-id``). Writing is atomic and exclusive: a brief is built in a
temporary folder and renamed into place; if another process put one there meanwhile, that one is
kept.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

from pipeline import provenance, queries, settings, store
from pipeline.errors import SnapshotError, UsageError
from pipeline.readers import file_above
from pipeline.report import render_html

SCHEMA_VERSION = 5  # 2: store_id and complete added; 3: corrected shares with intervals, events;
# 4: the history (the eight weeks before and the week) carries each week's corrected share and interval,
# partial_note is frozen, and a change of share against a week without statements is null;
# 5: previous_week and previous_8_weeks_mean carry the change of corrected share with its 95 % interval
# (change_share_corrected, change_ci_low, change_ci_high), and movers rank by it when there is one
_NO_CORRECTION = {"share_corrected": None, "ci_low": None, "ci_high": None}
_NO_CHANGE = {"change_share_corrected": None, "change_ci_low": None, "change_ci_high": None}
# ASCII digits only, matched in full: \d would take full-width digits and $ a trailing newline.
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")
HISTORY_WEEKS = 8


def parse_week(week: str) -> tuple[dt.date, dt.date]:
    """'2026-W03' -> (Monday, Sunday)."""
    m = _WEEK.fullmatch(week or "")
    if not m:
        raise UsageError(f"week must look like 2026-W03, not {week!r}")
    try:
        monday = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as exc:
        raise UsageError(f"no such ISO week: {week!r}") from exc
    try:
        # A brief reads the eight weeks before its own; all of them must be dates Python can hold.
        monday - dt.timedelta(weeks=HISTORY_WEEKS)
        monday + dt.timedelta(days=7)
    except OverflowError as exc:
        raise UsageError(f"week {week!r} is out of the range of dates a brief can cover") from exc
    return monday, monday + dt.timedelta(days=6)


def week_label(monday: dt.date) -> str:
    y, w, _ = monday.isocalendar()
    return f"{y}-W{w:02d}"


def partial_week_note(week: str, first: dt.date | None, last: dt.date | None) -> str | None:
    """A warning when the store's statements (``first`` to ``last``) start or end inside the week:
    its counts then cover only part of it and compare badly with a whole week (shares still do)."""
    monday, sunday = parse_week(week)
    cut = []
    if first is not None and monday < first <= sunday:
        cut.append(f"start on {first.isoformat()}")
    if last is not None and monday <= last < sunday:
        cut.append(f"end on {last.isoformat()}")
    if not cut:
        return None
    lo = max(monday, first) if first is not None else monday
    hi = min(sunday, last) if last is not None else sunday
    days = (hi - lo).days + 1
    return (f"Partial week: the store's statements {' and '.join(cut)}, so this week holds {days} of its 7 days. "
            "Its counts and their changes cover only those days; compare shares instead.")


def compute(conn: sqlite3.Connection, week: str, extras: dict | None = None) -> dict:
    """The numbers of one week's brief, straight from the store.

    ``extras`` (``week_extras``): the corrected shares and the events of the weeks being written,
    computed once for all of them; without it the brief has the counts only (the dashboard's live
    numbers of a week not yet frozen).
    """
    monday, sunday = parse_week(week)
    bits = store.topic_bits(conn)
    names = list(bits)
    extras = extras or {}
    # A first run's briefs share one pass over the count tables (``week_extras``); a single brief
    # (the dashboard's live week) reads its own weeks.
    counts = extras.get("counts")
    if counts is None:
        counts = queries.weekly_topic_counts(conn, monday - dt.timedelta(weeks=HISTORY_WEEKS), monday, bits)
    empty = (0, dict.fromkeys(names, 0))
    total, this = counts.get(monday, empty)
    p_total, prev = counts.get(monday - dt.timedelta(weeks=1), empty)
    history = [monday - dt.timedelta(weeks=k) for k in range(HISTORY_WEEKS, 0, -1)]
    facts = extras.get("facts")
    if facts is None:
        facts = queries.week_facts(conn, monday)
    docs, sources, models, topics_hash = facts.get(monday, (0, [], [], ""))
    span = extras.get("span")
    if span is None:
        span = queries.day_span(conn)
    per_topic = {}
    for t in names:
        count = this[t]
        share = count / total if total else 0.0
        p_count = prev[t]
        # A week without statements (no conference) has no share: a change against it, or a mean
        # counting it as 0 %, would be an artefact (null, shown as a dash). Its count is a true 0,
        # so weeks with no statements (holidays) count as zero in the eight-week mean count.
        p_share = p_count / p_total if p_total else None
        before = [counts[m][1][t] / counts[m][0] for m in history if m in counts and counts[m][0]]
        mean_share = sum(before) / len(before) if before else None
        mean_count = sum(counts.get(m, empty)[1][t] for m in history) / HISTORY_WEEKS
        per_topic[t] = {
            "count": count, "share": round(share, 4),
            "previous_week": {"count": p_count, "share": _r4(p_share), "change_count": count - p_count,
                              "change_share": _r4(share - p_share) if total and p_share is not None else None},
            "previous_8_weeks_mean": {"count": round(mean_count, 2), "share": _r4(mean_share),
                                      "change_count": round(count - mean_count, 2),
                                      "change_share": _r4(share - mean_share) if total and before else None},
            "quotes": _quotes(conn, monday, sunday, t),
        }
    corrected = extras.get("corrected", {})
    changes = extras.get("changes", {})
    for t in names:
        per_topic[t].update(corrected.get((week, t), _NO_CORRECTION))
        for against in ("previous_week", "previous_8_weeks_mean"):
            per_topic[t][against].update(changes.get((week, t), {}).get(against, _NO_CHANGE))
    measure = movers_measure(per_topic)
    return {
        "schema_version": SCHEMA_VERSION, "week": week, "start": monday.isoformat(), "end": sunday.isoformat(),
        "sources": sources, "documents": int(docs), "statements": total, "topics": per_topic,
        "movers": [{"topic": t, "change_share_vs_8_week_mean": per_topic[t]["previous_8_weeks_mean"]["change_share"],
                    **{f"{k}_vs_8_week_mean": per_topic[t]["previous_8_weeks_mean"][k] for k in _NO_CHANGE},
                    "change_count_vs_previous_week": per_topic[t]["previous_week"]["change_count"]}
                   for t in sorted(names, key=lambda t: -abs(per_topic[t]["previous_8_weeks_mean"][measure] or 0.0))],
        "movers_ranked_by": measure,
        "history": [{"week": week_label(m), "topic": t, "count": counts.get(m, empty)[1][t],
                     "total": counts.get(m, empty)[0], **corrected.get((week_label(m), t), _NO_CORRECTION)}
                    for m in history + [monday] for t in names],
        # Frozen with the brief: whether the store's statements started or ended inside the week
        # when it was made (a later run may fill the week; this brief stays partial).
        "partial_note": partial_week_note(week, *span),
        "model_versions": models, "topics_hash": topics_hash,
        "correction": extras.get("correction"),
        "events": extras.get("events", {}).get(week, []),
    }


def movers_measure(topics: dict) -> str:
    """The change a brief ranks its movers by: the corrected change against the 8-week mean
    (``change_share_corrected``) when every topic that has a change of share as tagged has a
    corrected one too, else the change as tagged (``change_share``) for all, so that one ranking
    never mixes the two. Topics with no change to rank (no week with statements before) come last."""
    moves = [v["previous_8_weeks_mean"] for v in topics.values()]
    if any(m.get("change_share_corrected") is not None for m in moves) and all(
            m.get("change_share_corrected") is not None for m in moves if m["change_share"] is not None):
        return "change_share_corrected"
    return "change_share"


def changes_since_frozen(conn: sqlite3.Connection, summary: dict) -> list[str]:
    """What the store holds for a brief's week now that differs from what the brief froze: its
    statements, its statements per topic (a re-tag by another model moves them with the total
    unchanged) and the models that tagged them; an empty list when nothing did."""
    monday, _ = parse_week(summary["week"])
    bits = store.topic_bits(conn)
    total, counts = queries.weekly_topic_counts(conn, monday, monday, bits).get(monday, (0, dict.fromkeys(bits, 0)))
    models = queries.week_facts(conn, monday).get(monday, (0, [], [], ""))[2]
    out = []
    if total != summary["statements"]:
        out.append(f"it now holds {total:,} statements, the brief {summary['statements']:,}")
    moved = [f"{t} {counts.get(t, 0):,} (brief {v['count']:,})" for t, v in summary["topics"].items()
             if counts.get(t, 0) != v["count"]]
    if moved:
        out.append("statements per topic now " + ", ".join(moved))
    frozen = sorted(summary.get("model_versions") or [])
    if frozen and models and sorted(models) != frozen:
        out.append(f"its statements are now tagged by model {', '.join(models)}, the brief's by {', '.join(frozen)}")
    return out


def week_extras(conn: sqlite3.Connection, mondays: list[dt.date], model_path: str | None = None) -> dict:
    """What a brief adds to the counts, computed once for many weeks: per (week, topic) the share
    corrected for the tagger's errors with its 95 % interval, and per week the events (spikes) that
    include it, explained, as the store stood at the week's end. Without a model or an audit sample
    the corrected shares are left out (None) and the brief says why."""
    return explain_events(conn, counted_extras(conn, mondays, model_path))


def counted_extras(conn: sqlite3.Connection, mondays: list[dt.date], model_path: str | None = None) -> dict:
    """``week_extras`` but for the events' explanations: everything here reads the count tables
    only, so it can be computed while a run still builds the statements' indexes
    (``ExtrasAhead``). The events of each week wait, unexplained, in ``"unexplained"``."""
    from pipeline import audit as audit_mod
    from pipeline import events as events_mod
    from pipeline import queries
    from pipeline.errors import ModelError
    from pipeline.tagger import load_model

    if not mondays:
        return {}
    labels = {week_label(m) for m in mondays}
    au, why = None, None
    try:
        model = load_model(model_path or settings.get("model"))
        au = audit_mod.load(model)
        why = None if au is not None else "no audit sample"
    except ModelError as exc:
        why = f"no model: {exc}"
    # Counts and facts of every week in one pass over the count tables, for all the briefs at once.
    out: dict = {"corrected": {}, "events": {}, "correction": None,
                 "counts": queries.weekly_topic_counts(conn, None, None, store.topic_bits(conn)),
                 "facts": queries.week_facts(conn), "span": queries.day_span(conn), "unexplained": []}
    if au is not None:
        out.update(corrected_extras(conn, mondays, au))
    else:
        out["correction"] = {"unavailable": why}
    # Events: found once over the whole store, then each week keeps those that include it, cut at the
    # week's end (a brief must not know how an event went on after its week).
    for e in events_mod.find(conn, au, until=max(mondays) + dt.timedelta(days=6), explained=False):
        for w in e["weeks"]:
            wk = week_label(dt.date.fromisoformat(w))
            if wk not in labels:
                continue
            upto = [x for x in e["weeks"] if x <= w]
            cut = {**e, "weeks": upto, "end": (dt.date.fromisoformat(upto[-1]) + dt.timedelta(days=6)).isoformat()}
            out["unexplained"].append((wk, cut))
    return out


def explain_events(conn: sqlite3.Connection, extras: dict) -> dict:
    """``counted_extras`` with its events explained (the statements behind them: this reads the
    statements, by their indexes), each under its week in ``"events"``."""
    from pipeline import events as events_mod

    for wk, cut in extras.pop("unexplained", []):
        extras["events"].setdefault(wk, []).append(events_mod.explain(conn, cut))
    return extras


class ExtrasAhead:
    """The count-table part of the briefs a run will write (``counted_extras`` of the weeks
    ``write_all`` will write), computed in a thread while the run builds the statements' indexes.

    A cold run builds its indexes at the end, on one core, for two or three seconds; the corrected
    shares and events of every week took as long on the same core after it, while the brief
    writers competed for the other. ``start`` is called in that window (``ingest.run``'s
    ``while_indexing``); ``write_all`` takes the result only when it was computed for exactly the
    weeks it writes, else computes it itself. Any error here leaves it to ``write_all``.
    """

    def __init__(self, store_dir: str, out_dir: Path, model_path: str | None = None) -> None:
        self.store_dir, self.out_dir, self.model_path = str(store_dir), Path(out_dir), model_path
        self._thread: threading.Thread | None = None
        self._done: tuple[list[str], dict] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._compute, name="briefs-ahead", daemon=True)
        self._thread.start()

    def _compute(self) -> None:
        try:
            conn = store.open_readonly(self.store_dir, cache_mb=SNAPSHOT_CACHE_MB)
            try:
                sid = store.read_store_id(conn)
                todo = _todo(conn, self.out_dir, sid, False, None)
                extras = counted_extras(conn, [parse_week(w)[0] for w in todo], self.model_path) if todo else {}
            finally:
                conn.close()
            self._done = (todo, extras)
        except Exception:  # noqa: BLE001 - write_all computes it again and reports what is wrong
            self._done = None

    def result(self, todo: list[str]) -> dict | None:
        """The extras computed ahead when they were for exactly the weeks ``todo``; else None."""
        if self._thread is None:
            return None
        self._thread.join()
        if self._done is None or self._done[0] != todo:
            return None
        return self._done[1]


def corrected_extras(conn: sqlite3.Connection, mondays: list[dt.date], au) -> dict:
    """The corrected shares (95 % intervals) of the weeks of briefs starting on ``mondays`` and of
    the eight weeks each charts before it, and the briefs' weeks' changes of corrected share against
    the previous week and the 8-week mean (95 % intervals), with the audit ``au``, as ``compute``
    takes them in its ``extras``: ``{"corrected": {(week, topic): {...}}, "changes": {(week, topic):
    {"previous_week": {...}, "previous_8_weeks_mean": {...}}}, "correction": {...}}``."""
    out: dict = {"corrected": {}, "changes": {}, "correction": None}
    if not mondays:
        return out
    # From eight weeks before the first brief: every brief's 8-week window is inside the dates.
    first = min(mondays) - dt.timedelta(weeks=HISTORY_WEEKS)
    last = max(mondays) + dt.timedelta(days=6)
    # One bootstrap for all weeks: shares and changes come from the same replicates (paired).
    df = queries.corrected_trend(conn, queries.Filters(date_from=first, date_to=last), au, "week",
                                 change_window=HISTORY_WEEKS)
    briefs = set(mondays)
    for r in df.itertuples():
        key = (week_label(r.period), r.topic)
        out["corrected"][key] = {
            "share_corrected": _r4(r.share_corrected), "ci_low": _r4(r.ci_low), "ci_high": _r4(r.ci_high)}
        if r.period in briefs:
            out["changes"][key] = {
                "previous_week": {"change_share_corrected": _r4(r.change_prev), "change_ci_low": _r4(r.change_prev_low),
                                  "change_ci_high": _r4(r.change_prev_high)},
                "previous_8_weeks_mean": {"change_share_corrected": _r4(r.change_mean),
                                          "change_ci_low": _r4(r.change_mean_low),
                                          "change_ci_high": _r4(r.change_mean_high)}}
    out["correction"] = {"method": "probabilistic adjusted classify-and-count, 95 % bootstrap interval",
                         "model_version": au.model_version, "audit_statements": len(au.ids),
                         "audit_coded_until": au.frame.get("coded_until", "")}
    return out


def _r4(x) -> float | None:
    return None if x is None or x != x else round(float(x), 4)


def _quotes(conn: sqlite3.Connection, monday: dt.date, sunday: dt.date, topic: str, k: int = 3) -> list[dict]:
    """Representative statements: the week's most confident ones, from different documents."""
    rows = queries.confident_statements(conn, monday, sunday, topic)
    out, docs = [], set()
    for text, speaker, date, source, url, title, doc_id, p in rows:
        if doc_id in docs:
            continue
        docs.add(doc_id)
        out.append({"text": text, "speaker": speaker, "date": date, "source": source, "url": url,
                    "title": title, "score": round(p or 0.0, 3)})
        if len(out) == k:
            break
    return out


# -- writing: only completed weeks, once, atomically, into a folder of this store's own -----------
OWNER_FILE = ".store-id"
# Leftovers of a writer that died: hidden temporary folders and files that name its process.
_LEFTOVER = re.compile(r"\..+\.(?:tmp|stale)-([0-9]+)(?:-.*)?")


def week_is_complete(sunday: dt.date, today: dt.date | None = None) -> bool:
    """A week's brief may be frozen once the week is over: its Sunday is before today."""
    return sunday < (today or dt.date.today())


def _os_reason(path: Path, exc: OSError) -> str:
    return f"{exc.filename or path}: {exc.strerror or exc}"


def folder_owner(out_dir: Path) -> str | None:
    """The id of the store whose snapshots ``out_dir`` holds, or None when no store claimed it."""
    try:
        return (Path(out_dir) / OWNER_FILE).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def claim_folder(out_dir: Path, store_id: str) -> None:
    """Make ``out_dir`` this store's snapshot folder; SnapshotError if it is another store's.

    The first store to write there records its id in ``.store-id``; briefs already in the folder
    (written by versions that did not record ids) are taken as that store's.
    """
    marker = out_dir / OWNER_FILE
    if out_dir.exists() and not out_dir.is_dir():  # mkdir would say only "File exists"
        raise SnapshotError(f"{out_dir}: is a file, not a folder for the weekly snapshots "
                            "(TOPICS_SNAPSHOTS, or snapshot --out, names a folder)")
    above = file_above(out_dir)
    if above is not None:  # mkdir would say only "Not a directory"
        raise SnapshotError(f"{out_dir}: {above} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            tmp = out_dir / f"{OWNER_FILE}.tmp-{os.getpid()}"
            tmp.write_text(store_id + "\n", encoding="utf-8")
            try:
                os.link(tmp, marker)  # atomic and exclusive: of two claims, the first one stands
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        owner = folder_owner(out_dir)
    except OSError as exc:
        raise SnapshotError(_os_reason(out_dir, exc)) from exc
    if owner != store_id:
        raise SnapshotError(
            f"{out_dir}: holds the weekly snapshots of another store (id {owner}; this store's is {store_id}); "
            "give this store a folder of its own (leave TOPICS_SNAPSHOTS empty for the store's own 'snapshots' "
            "folder, or name another with it or with snapshot --out)")


def _incomplete(summary: dict) -> bool:
    """Written before its week was over (earlier versions froze the current week too)."""
    if summary.get("complete") is False:
        return True
    made, end = str(summary.get("made_at") or ""), str(summary.get("end") or "")
    return bool(made and end) and made[:10] <= end


def _state(target: Path, store_id: str | None) -> str:
    """'missing', 'kept' (a frozen brief of this store), 'stale' (one written before its week was
    over: replaced) or 'foreign' (another store's)."""
    try:
        s = json.loads((target / "summary.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "kept" if target.exists() else "missing"
    except (OSError, ValueError):
        return "kept"  # unreadable: frozen all the same; nothing here deletes what it cannot read
    if not isinstance(s, dict):
        return "kept"
    if s.get("store_id") not in (None, store_id):
        return "foreign"
    return "stale" if _incomplete(s) else "kept"


def read_brief(out_dir: Path, week: str, store_id: str | None) -> dict | None:
    """A week's frozen summary when ``out_dir`` holds one of this store's; else None (no brief,
    another store's, or one written before its week was over)."""
    owner = folder_owner(out_dir)
    if owner is not None and owner != store_id:
        return None
    if _state(Path(out_dir) / week, store_id) != "kept":
        return None
    try:
        s = json.loads((Path(out_dir) / week / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) else None


def write_week(store_dir: str, out_dir: Path, week: str, force: bool = False,
               today: dt.date | None = None, model_path: str | None = None) -> Path:
    """Write one completed week's snapshot folder; an existing one is kept unless ``force``. Its folder
    (``freeze_week`` also says whether this call wrote it)."""
    return freeze_week(store_dir, out_dir, week, force, today, model_path)[0]


def freeze_week(store_dir: str, out_dir: Path, week: str, force: bool = False,
                today: dt.date | None = None, model_path: str | None = None) -> tuple[Path, bool]:
    """Write one completed week's snapshot folder unless this store's brief of it is there (or
    ``force``); (its folder, whether this call wrote it).

    UsageError for a week that is not over or outside the store's weeks with statements (nothing is
    written then, not even the folder); SnapshotError when the folder cannot be written or belongs to
    another store.
    """
    monday, sunday = parse_week(week)
    if not week_is_complete(sunday, today):
        raise UsageError(f"week {week!r} is not over yet (it ends on Sunday {sunday.isoformat()}); a brief is "
                         "frozen only once its week is complete (the dashboard shows its live numbers meanwhile)")
    out = Path(out_dir)
    conn = store.open_readonly(store_dir, cache_mb=SNAPSHOT_CACHE_MB)
    try:
        _check_in_range(conn, week, monday)
        sid = store.ensure_store_id(store_dir)
        claim_folder(out, sid)
        return _write(conn, out, week, force, sid, week_extras(conn, [monday], model_path))
    except OSError as exc:
        raise SnapshotError(_os_reason(out, exc)) from exc
    finally:
        conn.close()


def _check_in_range(conn: sqlite3.Connection, week: str, monday: dt.date) -> None:
    """UsageError for a week before the store's first week with statements or after its last (a
    brief of it would be empty; a week in between without statements is a brief of a quiet week)."""
    weeks = queries.weeks_with_statements(conn)
    if not weeks:
        raise UsageError(f"week {week!r}: the store has no statements yet; fill it with "
                         "`python -m pipeline run --input PATH`")
    if not weeks[0] <= monday <= weeks[-1]:
        raise UsageError(f"week {week!r} is outside the store's weeks ({week_label(weeks[0])} to "
                         f"{week_label(weeks[-1])}); no brief written")


def made_at(folder: Path) -> str | None:
    """When the brief in ``folder`` was made (its summary's ``made_at``), or None when unreadable."""
    try:
        s = json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(s["made_at"]) if isinstance(s, dict) and s.get("made_at") else None


def _write(conn: sqlite3.Connection, out_dir: Path, week: str, force: bool, store_id: str,
           extras: dict | None = None) -> tuple[Path, bool]:
    """Write a week's brief unless this store's is there; (its folder, whether this call wrote it)."""
    target = out_dir / week
    state = _state(target, store_id)
    if state == "foreign":
        raise SnapshotError(f"{target}: a brief of another store; give this store a snapshot folder of its own")
    if state == "kept" and not force:
        return target, False
    return _finish(conn, out_dir, week, _prepare(conn, out_dir, week), force, store_id, extras)


def _prepare(conn: sqlite3.Connection, out_dir: Path, week: str) -> Path:
    """A temporary folder of this process's own holding the week's statements (the bulk of a brief),
    which needs neither the corrected shares nor the events."""
    # Complete before it is renamed into place (``_finish``): readers and other writers see no brief
    # or a whole one.
    tmp = Path(tempfile.mkdtemp(prefix=f".{week}.tmp-{os.getpid()}-", dir=out_dir))
    try:
        # mkdtemp makes a folder only its owner may open; a brief is for whoever may read the
        # snapshot folder, so it takes that folder's permissions.
        tmp.chmod(out_dir.stat().st_mode & 0o777)
        monday, sunday = parse_week(week)
        with (tmp / "statements.csv").open("wb") as fh:
            queries.write_csv(conn, fh, monday, sunday)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _finish(conn: sqlite3.Connection, out_dir: Path, week: str, tmp: Path, force: bool, store_id: str,
            extras: dict | None) -> tuple[Path, bool]:
    """Add the summary and the report to a prepared folder and put it in place (or drop it when
    another process put this store's brief there meanwhile)."""
    try:
        summary = compute(conn, week, extras)
        summary["store_id"] = store_id
        summary["complete"] = True
        summary["made_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        summary["software"] = provenance.software()
        body = (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        (tmp / "summary.json").write_bytes(body)
        # The report cites the brief with its summary's digest: a reader can check the copy they hold.
        (tmp / "report.html").write_text(render_html(summary, hashlib.sha256(body).hexdigest()), encoding="utf-8")
        return out_dir / week, _install(tmp, out_dir / week, force, store_id, summary["made_at"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when it was renamed into place


def _install(tmp: Path, target: Path, force: bool, store_id: str, made_at: str) -> bool:
    """Rename ``tmp`` to ``target``. A brief there already (or put there meanwhile by another
    process) is kept and ``tmp`` dropped, unless it is stale (replaced) or ``force`` (moved to
    ``WEEK.previous-<time>``, once). Whether ``tmp`` was installed."""
    stale: list[Path] = []
    try:
        for attempt in range(20):
            try:
                tmp.rename(target)  # atomic; fails while a brief (a folder with files) is there
                return True
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
            state = _state(target, store_id)
            if state == "foreign":
                raise SnapshotError(f"{target}: a brief of another store appeared while writing this store's")
            if state == "kept" and not force:
                return False
            if force:
                aside = target.with_name(f"{target.name}.previous-{made_at.replace(':', '')}")
                n = 1
                while aside.exists():
                    n += 1
                    aside = aside.with_name(f"{target.name}.previous-{made_at.replace(':', '')}-{n}")
            else:
                aside = target.with_name(f".{target.name}.stale-{os.getpid()}-{attempt}")
            try:
                target.rename(aside)
            except FileNotFoundError:
                continue  # another writer moved it first
            if force:
                force = False  # keep one previous version; a brief another writer puts there now is as new
            else:
                stale.append(aside)
        raise SnapshotError(f"{target}: other processes kept replacing this brief; try again")
    finally:
        for p in stale:
            shutil.rmtree(p, ignore_errors=True)


def _sweep(out_dir: Path) -> None:
    """Remove the temporary folders and files of writers that died (killed runs)."""
    try:
        entries = list(out_dir.iterdir())
    except OSError:
        return
    for p in entries:
        m = _LEFTOVER.fullmatch(p.name)
        if not m or _alive(int(m.group(1))):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def completed_weeks_all(conn: sqlite3.Connection, today: dt.date | None = None) -> list[dt.date]:
    """Mondays of every ISO week with statements whose Sunday is before today."""
    weeks = queries.weeks_with_statements(conn)
    return [m for m in weeks if week_is_complete(m + dt.timedelta(days=6), today)]


def _todo(conn: sqlite3.Connection, out: Path, store_id: str | None, force: bool, today: dt.date | None
          ) -> list[str]:
    """The weeks ``write_all`` writes: every completed week (``force``) or those without a kept brief."""
    return [w for w in completed_weeks(conn, today) if force or _state(out / w, store_id) != "kept"]


def completed_weeks(conn: sqlite3.Connection, today: dt.date | None = None) -> list[str]:
    """Every ISO week with statements whose Sunday is before today."""
    return [week_label(m) for m in completed_weeks_all(conn, today)]


# The page cache of a process writing briefs: each reads its weeks' statements once, and two
# such processes with the default 256 MB each took the run past 1 GB of memory.
SNAPSHOT_CACHE_MB = 16


def _write_many(args: tuple[str, str, list[str], bool, str, dict | None]) -> list[Path]:
    store_dir, out_dir, weeks, force, store_id, extras = args
    conn = store.open_readonly(store_dir, cache_mb=SNAPSHOT_CACHE_MB)
    try:
        written = [_write(conn, Path(out_dir), w, force, store_id, extras) for w in weeks]
    except OSError as exc:
        raise SnapshotError(_os_reason(Path(out_dir), exc)) from exc
    finally:
        conn.close()
    return [p for p, wrote in written if wrote]


def _prepare_many(args: tuple[str, str, list[str]]) -> dict[str, str]:
    """``_prepare`` for several weeks in one worker: {week: its temporary folder}."""
    store_dir, out_dir, weeks = args
    conn = store.open_readonly(store_dir, cache_mb=SNAPSHOT_CACHE_MB)
    done: dict[str, str] = {}
    try:
        for w in weeks:
            done[w] = str(_prepare(conn, Path(out_dir), w))
    except BaseException as exc:
        for tmp in done.values():
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise SnapshotError(_os_reason(Path(out_dir), exc)) from exc
        raise
    finally:
        conn.close()
    return done


def _finish_many(args: tuple[str, str, dict[str, str], bool, str, dict | None]) -> list[Path]:
    """``_finish`` for the weeks another worker prepared; every temporary folder is gone after."""
    store_dir, out_dir, prepared, force, store_id, extras = args
    written = []
    try:
        conn = store.open_readonly(store_dir, cache_mb=SNAPSHOT_CACHE_MB)
        try:
            for week, tmp in prepared.items():
                written.append(_finish(conn, Path(out_dir), week, Path(tmp), force, store_id, extras))
        finally:
            conn.close()
    except OSError as exc:
        raise SnapshotError(_os_reason(Path(out_dir), exc)) from exc
    finally:
        for tmp in prepared.values():
            shutil.rmtree(tmp, ignore_errors=True)
    return [p for p, wrote in written if wrote]


def write_all(store_dir: str, out_dir: Path, force: bool = False, workers: int = 2,
              today: dt.date | None = None, model_path: str | None = None,
              ahead: ExtrasAhead | None = None) -> list[Path]:
    """Write a snapshot for each completed week that has none (all of them with ``force``); the
    folders written. A brief written before its week was over is replaced.

    Many weeks (a first run over years of transcripts) are shared among ``workers`` processes,
    which write the weeks' statements while this process computes the corrected shares and the
    events the briefs add (or takes those ``ahead`` computed while the run built its indexes);
    then they finish the briefs. SnapshotError when the folder cannot be written or belongs to
    another store.
    """
    out = Path(out_dir)
    sid = store.ensure_store_id(store_dir)
    claim_folder(out, sid)
    _sweep(out)
    conn = store.open_readonly(store_dir, cache_mb=SNAPSHOT_CACHE_MB)
    try:
        todo = _todo(conn, out, sid, force, today)
        mondays = [parse_week(w)[0] for w in todo]
        counted = ahead.result(todo) if ahead is not None and todo else None

        def extras_of_weeks() -> dict:
            return explain_events(conn, counted) if counted is not None else week_extras(conn, mondays, model_path)

        if workers <= 1 or len(todo) < 20:
            # Corrected shares and events of every week to write, in one pass over the store.
            extras = extras_of_weeks() if todo else {}
            return _write_many((str(store_dir), str(out), todo, force, sid, extras))
        from pipeline.workers import worker_pool

        chunks = [todo[i::workers] for i in range(workers)]
        with worker_pool(workers) as pool:  # its workers end with the run, however it ends
            jobs = [pool.submit(_prepare_many, (str(store_dir), str(out), c)) for c in chunks]
            try:
                extras = extras_of_weeks()
            except BaseException:
                for job in jobs:  # no prepared folder left behind
                    try:
                        for tmp in job.result().values():
                            shutil.rmtree(tmp, ignore_errors=True)
                    except Exception:  # noqa: BLE001 - the first error is the one to report
                        pass
                raise
            prepared = [j.result() for j in jobs]
            parts = list(pool.map(_finish_many, [(str(store_dir), str(out), p, force, sid, extras) for p in prepared]))
    finally:
        conn.close()
    return sorted(p for part in parts for p in part)
