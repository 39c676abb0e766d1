"""Read-only queries shared by the dashboard, snapshots and exports. Aggregation runs in SQL."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

# pandas is imported by the functions that build tables: a run with nothing to freeze (one new
# day, a rerun) never needs it, and importing it was a third of such a run's time.
if TYPE_CHECKING:
    import pandas as pd

from pipeline.store import day_number, from_day, topic_bits

GRANULARITIES = ("day", "week", "month")
LABELLED = "(labelled set)"  # the stratum of statements whose topics people gave (score_sums)


@dataclass(frozen=True)
class Filters:
    """Every filter the dashboard offers; empty means 'all'."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sources: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()
    search: str = ""
    topics: tuple[str, ...] = field(default=())


# A search's cost grows with its words: a quoted phrase of thousands of words took a minute per
# query. Searches are cut to this many characters, then to this many words or phrases.
MAX_SEARCH_CHARS = 200
MAX_SEARCH_TERMS = 12
# A "quoted phrase" (one whose closing quote was cut off runs to the end), or a word; either
# may carry a leading '-'.
_SEARCH_TERM = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def cap_search(text: str) -> str:
    """``text`` cut to MAX_SEARCH_CHARS characters and MAX_SEARCH_TERMS words or phrases."""
    text = text.strip()[:MAX_SEARCH_CHARS]
    terms = list(_SEARCH_TERM.finditer(text))
    if len(terms) > MAX_SEARCH_TERMS:
        text = text[:terms[MAX_SEARCH_TERMS - 1].end()]
    return text.strip()


def search_terms(text: str) -> tuple[list[str], list[str]]:
    """The words or "quoted phrases" a statement must hold, and those it must not (a word written
    with a leading '-'). Characters other than letters, digits, hyphens and apostrophes separate
    words. The text is capped first (:func:`cap_search`), so a query's work is bounded."""
    must, must_not = [], []
    for minus, phrase, word in _SEARCH_TERM.findall(cap_search(text)):
        negated = bool(minus) or (word.startswith("-") and len(word) > 1)
        t = re.sub(r"[^\w\s\-']", " ", phrase if not word else word[1:] if negated else word)
        # A phrase stays one term; a word cut by punctuation ("text:fentanyl") is several words.
        terms = [" ".join(t.split())] if not word else t.split()
        (must_not if negated else must).extend(x for x in terms if re.search(r"\w", x))
    # Words split at punctuation can outnumber the capped terms: the cap holds for what is searched.
    must = must[:MAX_SEARCH_TERMS]
    return must, must_not[:MAX_SEARCH_TERMS - len(must)]


def fts_query(text: str) -> str:
    """User words to a safe FTS5 query: each word or "quoted phrase" must occur (AND), each
    -word must not. Empty when nothing is left to look for: FTS5 cannot search for an absence
    alone, and an empty query filters nothing."""
    must, must_not = search_terms(text)
    if not must:
        return ""
    return " ".join(f'"{t}"' for t in must) + "".join(f' NOT "{t}"' for t in must_not)


def search_reading(text: str) -> str:
    """How a search is read, in words, for the user to check it against what they meant."""
    must, must_not = search_terms(text)
    if not must:
        return ("Nothing to look for in this search (it needs a word or a \"quoted phrase\"; a leading - only "
                "leaves a word out): every statement is shown.")
    out = "Statements holding " + " and ".join(f"“{t}”" for t in must)
    if must_not:
        out += ", without " + " or ".join(f"“{t}”" for t in must_not)
    return out + " (accents and case ignored)."


def _uses_daily(f: Filters) -> bool:
    """The daily counts answer every filter but speaker and text search."""
    return not f.speakers and not (f.search and fts_query(f.search))


def _where(f: Filters) -> tuple[str, list]:
    clauses, args = [], []
    if f.date_from:
        clauses.append("s.day >= ?")
        args.append(day_number(f.date_from))
    if f.date_to:
        clauses.append("s.day <= ?")
        args.append(day_number(f.date_to))
    for col, values in (("source", f.sources), ("lang", f.langs), ("role", f.roles), ("speaker", f.speakers)):
        if values:
            clauses.append(f"s.{col} IN ({','.join('?' * len(values))})")
            args.extend(values)
    q = fts_query(f.search) if f.search else ""
    if q:
        clauses.append("s.sid IN (SELECT rowid FROM statements_fts WHERE statements_fts MATCH ?)")
        args.append(q)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def trend(conn: sqlite3.Connection, f: Filters, granularity: str = "week",
          group_by: str | None = None) -> pd.DataFrame:
    """Statements per period and topic: period, [group], topic, count, total, share.

    ``total`` (the denominator) counts every statement of the period that passes the filters,
    whatever its topics; ``share`` = count / total.
    """
    import pandas as pd
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}")
    if group_by not in (None, "source", "role", "lang"):
        raise ValueError("group_by must be source, role or lang")
    bits = topic_bits(conn)
    names = [t for t in bits if not f.topics or t in f.topics]
    where, args = _where(f)
    g = f", s.{group_by}" if group_by else ""
    if _uses_daily(f):
        sums = ", ".join(f"SUM(s.n * ((s.topic_mask >> {bits[t]}) & 1))" for t in names)
        sql = (f"SELECT s.{granularity} AS period{g}, SUM(s.n){', ' + sums if sums else ''} "
               f"FROM daily s{where} GROUP BY s.{granularity}{g} ORDER BY 1")
    else:
        sums = ", ".join(f"SUM((s.topic_mask >> {bits[t]}) & 1)" for t in names)
        sql = (f"SELECT s.{granularity} AS period{g}, COUNT(*){', ' + sums if sums else ''} "
               f"FROM statements s{where} GROUP BY s.{granularity}{g} ORDER BY 1")
    rows = conn.execute(sql, args).fetchall()
    cols = ["period"] + ([group_by] if group_by else []) + ["total"] + names
    wide = pd.DataFrame(rows, columns=cols)
    id_vars = ["period"] + ([group_by] if group_by else []) + ["total"]
    if wide.empty:
        return pd.DataFrame(columns=id_vars + ["topic", "count", "share"])
    if not group_by:
        wide = _complete_periods(wide, granularity)
    long = wide.melt(id_vars=id_vars, value_vars=names, var_name="topic", value_name="count")
    long["period"] = long["period"].map(from_day)
    long["count"] = long["count"].astype(int)
    long["share"] = long["count"] / long["total"].where(long["total"] > 0)
    return long.sort_values(["period", "topic"]).reset_index(drop=True)


def _complete_periods(wide: pd.DataFrame, granularity: str) -> pd.DataFrame:
    """Add the periods with no statement at all (total 0), so that charts show gaps, not bridges."""
    import pandas as pd
    first, last = int(wide["period"].min()), int(wide["period"].max())
    if granularity == "day":
        periods = range(first, last + 1)
    elif granularity == "week":
        periods = range(first, last + 1, 7)
    else:
        periods, d = [], from_day(first)
        while day_number(d) <= last:
            periods.append(day_number(d))
            d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    full = pd.DataFrame({"period": list(periods)})
    out = full.merge(wide, on="period", how="left").fillna(0)
    for c in out.columns:
        out[c] = out[c].astype(int)
    return out


def mask_counts(conn: sqlite3.Connection, f: Filters) -> pd.DataFrame:
    """Statements that pass the filters per source, topic mask (the tags) and, for statements of the
    labelled set, the people-given mask: source, tag_mask, gold_mask (-1 outside the labelled set), n.
    What co-occurrence needs for any pair of topics, as tagged and corrected."""
    import pandas as pd
    where, args = _where(f)
    labelled = where + (" AND " if where else " WHERE ") + "s.gold_mask IS NOT NULL"
    sql = "SELECT s.source, s.topic_mask, {gold}, {n} FROM {table} s{where} GROUP BY 1, 2, 3"
    cols = ["source", "tag_mask", "gold_mask", "n"]
    if not _uses_daily(f):
        rows = conn.execute(sql.format(gold="COALESCE(s.gold_mask, -1)", n="COUNT(*)", table="statements",
                                       where=where), args).fetchall()
        return pd.DataFrame(rows, columns=cols)
    # The daily counts hold every statement by its tags; the labelled set's few (a scan of the
    # statements) are taken out of them and counted apart with their labels.
    every = pd.DataFrame(conn.execute(sql.format(gold="-1", n="SUM(s.n)", table="daily", where=where),
                                      args).fetchall(), columns=cols)
    lab = pd.DataFrame(conn.execute(sql.format(gold="s.gold_mask", n="COUNT(*)", table="statements",
                                               where=labelled), args).fetchall(), columns=cols)
    if lab.empty:
        return every
    taken = lab.groupby(["source", "tag_mask"], as_index=False)["n"].sum()
    rest = every.merge(taken, on=["source", "tag_mask"], how="left", suffixes=("", "_lab"))
    rest["n"] = rest["n"] - rest["n_lab"].fillna(0).astype(int)
    rest = rest.loc[rest["n"] > 0, cols]
    return pd.concat([rest, lab], ignore_index=True)


def cooccurrence(conn: sqlite3.Connection, f: Filters, audit=None) -> pd.DataFrame:
    """Per ordered pair of topics (``cooccurrence.COLUMNS``): statements tagged with both, their share,
    and with the audit sample (``pipeline.audit.Audit``) the share of statements about both corrected
    for the tagger's errors with its 95 % interval, the audit statements behind it and what the cell
    can claim (``cooccurrence.cell_status``). The diagonal is each topic's share, corrected as
    ``corrected_totals`` corrects it."""
    import pandas as pd

    from pipeline import cooccurrence as co
    from pipeline import correction

    bits = topic_bits(conn)
    names = sorted(t for t in bits if not f.topics or t in f.topics)
    masks = mask_counts(conn, f)
    if audit is None or not names:
        return co.corrected_pairs(masks, bits, names, None)
    known = [t for t in names if t in audit.topics]
    rates = {(a, b): audit.joint_rates(a, b) for i, a in enumerate(known) for b in known[i + 1:]}
    diagonal = None
    sums = score_sums(conn, f, "month")
    if not sums.empty:
        sums = sums.groupby(["stratum", "topic"], as_index=False)[["n", "s1", "s2"]].sum()
        sums["scope"] = "all"
        diagonal = _corrected_by_topic(sums, ["scope"], audit)
    if diagonal is not None:
        diagonal["audit_positives"] = [audit.rates(t)[correction.POOLED].n_pos for t in diagonal["topic"]]
    else:
        diagonal = pd.DataFrame(columns=["topic", "share_corrected", "ci_low", "ci_high", "audit_positives"])
    return co.corrected_pairs(masks, bits, names, rates, diagonal)


def period_bounds(period: dt.date, granularity: str) -> tuple[dt.date, dt.date]:
    """First and last day of the period that starts on ``period``."""
    if granularity == "day":
        return period, period
    if granularity == "week":
        return period, period + dt.timedelta(days=6)
    nxt = (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return period, nxt - dt.timedelta(days=1)


def statements(conn: sqlite3.Connection, f: Filters, *, topic: str | None = None,
               limit: int = 50, offset: int = 0) -> tuple[pd.DataFrame, int]:
    """One page of statements that pass the filters (and carry ``topic``), with the total count."""
    import pandas as pd
    bits = topic_bits(conn)
    where, args = _where(f)
    if topic:
        where += (" AND " if where else " WHERE ") + f"((s.topic_mask >> {bits[topic]}) & 1) = 1"
    elif f.topics:
        mask = sum(1 << bits[t] for t in f.topics if t in bits)
        where += (" AND " if where else " WHERE ") + f"(s.topic_mask & {mask}) != 0"
    total = conn.execute(f"SELECT COUNT(*) FROM statements s{where}", args).fetchone()[0]
    rows = conn.execute(
        "SELECT s.statement_id, s.date, s.source, s.lang, s.speaker, s.role, s.text, s.topic_mask, s.scores, "
        f"d.title, d.url, d.path, s.position FROM statements s JOIN documents d ON d.doc_id = s.doc_id{where} "
        "ORDER BY s.day DESC, s.doc_id, s.position LIMIT ? OFFSET ?", args + [limit, offset]).fetchall()
    df = pd.DataFrame(rows, columns=["statement_id", "date", "source", "lang", "speaker", "role", "text",
                                     "topic_mask", "scores", "title", "url", "path", "position"])
    df["topics"] = df["topic_mask"].map(lambda m: [t for t, b in bits.items() if (m >> b) & 1])
    df["scores"] = df["scores"].map(lambda s: json.loads(s) if s else {})
    return df.drop(columns=["topic_mask"]), int(total)


def statements_table(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``statements``' rows as a user's table: topics joined by ';', one score column per topic
    (``score_<topic>``, empty where a statement has none) and no server-side file path."""
    out = df.drop(columns=["path", "scores"], errors="ignore").assign(topics=df["topics"].map(";".join))
    for t in names:
        out[f"score_{t}"] = df["scores"].map(lambda s, t=t: s.get(t))
    return out


def _top_speakers(conn: sqlite3.Connection, n: int = 300) -> list[str]:
    try:
        rows = conn.execute("SELECT speaker FROM speakers ORDER BY n DESC, speaker LIMIT ?", (n,)).fetchall()
    except sqlite3.OperationalError:  # a store last written by an older version, read-only here
        rows = conn.execute("SELECT speaker FROM statements WHERE speaker != '' GROUP BY speaker "
                            "ORDER BY COUNT(*) DESC, speaker LIMIT ?", (n,)).fetchall()
    return [r[0] for r in rows]


def tagging_models(conn: sqlite3.Connection) -> dict[str, int]:
    """The model versions that tagged the store's statements, with how many each tagged."""
    return {v or "": n for v, n in conn.execute(
        "SELECT model_version, COUNT(*) FROM statements GROUP BY model_version ORDER BY 2 DESC")}


def day_span(conn: sqlite3.Connection) -> tuple[dt.date | None, dt.date | None]:
    """The dates of the store's first and last statements (None, None when it has none)."""
    lo, hi = conn.execute("SELECT MIN(day), MAX(day) FROM daily").fetchone()
    return (from_day(lo) if lo is not None else None, from_day(hi) if hi is not None else None)


def facets(conn: sqlite3.Connection) -> dict:
    """The values the filters offer: sources, languages, roles, top speakers, date range."""
    # The count tables kept by every write answer in milliseconds at any store size.
    one = conn.execute("SELECT MIN(day), MAX(day), COALESCE(SUM(n), 0) FROM daily").fetchone()
    return {
        "sources": [r[0] for r in conn.execute("SELECT DISTINCT source FROM documents ORDER BY 1")],
        "langs": [r[0] for r in conn.execute("SELECT DISTINCT lang FROM documents ORDER BY 1")],
        "roles": [r[0] for r in conn.execute("SELECT DISTINCT role FROM daily ORDER BY 1")],
        "speakers": _top_speakers(conn),
        "date_min": from_day(one[0]) if one[0] is not None else None,
        "date_max": from_day(one[1]) if one[1] is not None else None,
        "statements": int(one[2]),
        "topics": list(topic_bits(conn)),
    }


def status(conn: sqlite3.Connection, runs: int = 5) -> dict:
    """What the store holds: counts, date range, per source/language/topic, last runs."""
    bits = topic_bits(conn)
    docs, first, last = conn.execute("SELECT COUNT(*), MIN(date), MAX(date) FROM documents").fetchone()
    n = conn.execute("SELECT COUNT(*) FROM statements").fetchone()[0]
    per_topic = {}
    if bits:
        row = conn.execute("SELECT " + ", ".join(f"SUM((topic_mask >> {b}) & 1)" for b in bits.values())
                           + " FROM statements").fetchone()
        per_topic = {t: int(v or 0) for t, v in zip(bits, row)}
    recent = []
    keys = ["run_id", "started_at", "finished_at", "status", "files_considered", "files_new", "files_changed",
            "files_unchanged", "files_duplicate", "files_refused", "files_read", "files_skipped", "lines_refused",
            "statements_added", "statements_retagged", "model_version"]
    have = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}  # a store a run has not opened since may lack some
    cols = ", ".join(k if k in have else f"0 AS {k}" for k in keys)
    for r in conn.execute(f"SELECT {cols} FROM runs ORDER BY run_id DESC LIMIT ?", (runs,)):
        d = dict(zip(keys, r))
        d["refused"] = [{"path": p, "line": ln, "reason": why} for p, ln, why in conn.execute(
            "SELECT path, line, reason FROM refusals WHERE run_id = ? LIMIT 50", (d["run_id"],))]
        recent.append(d)
    models = [dict(zip(["version", "topics_hash", "first_used"], r)) for r in conn.execute(
        "SELECT version, topics_hash, first_used FROM models ORDER BY first_used")]
    return {
        "documents": docs, "statements": n, "first_date": first, "last_date": last,
        "by_source": dict(conn.execute("SELECT source, COUNT(*) FROM statements GROUP BY 1 ORDER BY 1").fetchall()),
        "by_lang": dict(conn.execute("SELECT lang, COUNT(*) FROM statements GROUP BY 1 ORDER BY 1").fetchall()),
        "by_topic": per_topic, "models": models, "runs": recent,
    }


EXPORT_COLUMNS = ["statement_id", "doc_id", "date", "source", "lang", "speaker_raw", "speaker", "role", "position",
                  "text", "topics", "scores", "model_version", "title", "url", "path"]


def _export_cursor(conn: sqlite3.Connection, date_from: dt.date | None, date_to: dt.date | None):
    where, args = _where(Filters(date_from=date_from, date_to=date_to))
    return conn.execute(
        "SELECT s.statement_id, s.doc_id, s.date, s.source, s.lang, s.speaker_raw, s.speaker, s.role, s.position, "
        f"s.text, s.topic_mask, s.scores, s.model_version, d.title, d.url, d.path FROM statements s "
        f"JOIN documents d ON d.doc_id = s.doc_id{where} ORDER BY s.day, s.doc_id, s.position", args)


def write_csv(conn: sqlite3.Connection, fh: BinaryIO, date_from: dt.date | None = None,
              date_to: dt.date | None = None) -> int:
    """Every statement in the dates as UTF-8 CSV (topics ';'-joined, scores as JSON) to a binary
    file; returns the row count.

    Cells follow :mod:`pipeline.csvsafe` (formula-like text neutralised, text quoted). Lines are
    built here rather than a cell at a time through the csv module: a week's brief writes every
    statement of the week, and that made the snapshots of a cold run several times slower. The
    cells a document's statements share are quoted once, and the text is copied as the UTF-8 bytes
    the store holds, never decoded and encoded again (a fifth of the CSV's CPU). A test holds this
    writer and ``csvsafe.Writer`` to the same bytes.
    """
    from pipeline.csvsafe import quoted_bytes

    bits = topic_bits(conn)
    names = {b: t.encode() for t, b in bits.items()}
    cell = _Cells(quoted_bytes)  # speakers, roles, model versions and topic lists repeat
    topics = _Cells(lambda m: quoted_bytes(b";".join(names[b] for b in sorted(names) if (m >> b) & 1)))
    docs: dict[bytes, tuple[bytes, bytes]] = {}
    fh.write(b",".join(quoted_bytes(c.encode()) for c in EXPORT_COLUMNS) + b"\r\n")
    n = 0
    factory = conn.text_factory
    conn.text_factory = bytes
    try:
        cur = _export_cursor(conn, date_from, date_to)
        while rows := cur.fetchmany(1000):
            lines = []
            for sid, doc_id, date, source, lang, raw, speaker, role, position, text, mask, scores, model, title, \
                    url, path in rows:
                head_tail = docs.get(doc_id)
                if head_tail is None:
                    head_tail = docs[doc_id] = (b",".join(map(quoted_bytes, (doc_id, date, source, lang))),
                                                b",".join(map(quoted_bytes, (title, url, path))))
                lines.append(b"%s,%s,%s,%s,%s,%d,%s,%s,%s,%s,%s\r\n" % (
                    quoted_bytes(sid), head_tail[0], cell[raw], cell[speaker], cell[role], position,
                    quoted_bytes(text), topics[mask], quoted_bytes(scores), cell[model], head_tail[1]))
            fh.write(b"".join(lines))
            n += len(rows)
    finally:
        conn.text_factory = factory
    return n


class _Cells(dict):
    """A memo of quoted cells: value -> its CSV cell, made once by ``make``."""

    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, value):
        out = self[value] = self.make(value)
        return out


def export_rows(conn: sqlite3.Connection, date_from: dt.date | None = None, date_to: dt.date | None = None):
    """Every stored statement with its metadata and topics, in date order (a generator)."""
    bits = topic_bits(conn)
    keys = EXPORT_COLUMNS[:10] + ["topic_mask"] + EXPORT_COLUMNS[11:]
    for r in _export_cursor(conn, date_from, date_to):
        d = dict(zip(keys, r))
        m = d.pop("topic_mask")
        d["topics"] = [t for t, b in bits.items() if (m >> b) & 1]
        d["scores"] = json.loads(d["scores"]) if d["scores"] else {}
        yield d


# -- corrected shares --------------------------------------------------------------------------------
def score_sums(conn: sqlite3.Connection, f: Filters, granularity: str = "week",
               group_by: str | None = None) -> pd.DataFrame:
    """Per period, [group,] stratum and topic: statements (n), sum (s1) and sum of squares (s2) of the
    topic's score, over the statements that pass the filters (pooled, never averaged). The stratum is
    the source, or ``LABELLED`` for statements of the labelled set, which count their label."""
    import pandas as pd
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}")
    names = [t for t in topic_bits(conn) if not f.topics or t in f.topics]
    g = f", s.{group_by}" if group_by else ""
    where, args = _where(f)
    n_keys = 2 if g else 1
    if _uses_daily(f):
        stratum = f"CASE WHEN s.labelled THEN '{LABELLED}' ELSE s.source END"
        sql = (f"SELECT s.{granularity}{g}, {stratum}, s.topic, SUM(s.n), SUM(s.s1), SUM(s.s2) "
               f"FROM daily_scores s{where} GROUP BY {', '.join(map(str, range(1, n_keys + 3)))}")
    else:  # a speaker or text filter: sum the matching statements' own scores (labels where known)
        stratum = f"CASE WHEN s.gold_mask IS NULL THEN s.source ELSE '{LABELLED}' END"
        value = "(CASE WHEN s.gold_mask IS NULL THEN j.value ELSE (s.gold_mask >> t.topic_id) & 1 END)"
        sql = (f"SELECT s.{granularity}{g}, {stratum}, j.key, COUNT(*), SUM({value}), SUM({value} * {value}) "
               f"FROM statements s JOIN json_each(s.scores) j LEFT JOIN topics t ON t.name = j.key{where} "
               f"GROUP BY {', '.join(map(str, range(1, n_keys + 3)))}")
    cols = ["period"] + ([group_by] if group_by else []) + ["stratum", "topic", "n", "s1", "s2"]
    df = pd.DataFrame(conn.execute(sql, args).fetchall(), columns=cols)
    return df[df["topic"].isin(names)].reset_index(drop=True)


# Columns ``corrected_trend`` adds with ``change_window``: the change of corrected share against the
# previous period and against the mean of the window's periods before it, each with its 95 % interval.
CHANGE_COLUMNS = ("change_prev", "change_prev_low", "change_prev_high",
                  "change_mean", "change_mean_low", "change_mean_high")


def rolling_bounds(rolling: int) -> tuple[str, str]:
    """The columns of the 95 % interval of a ``rolling``-period mean of corrected shares."""
    return f"ci_low_mean_{rolling}", f"ci_high_mean_{rolling}"


def corrected_trend(conn: sqlite3.Connection, f: Filters, audit, granularity: str = "week",
                    group_by: str | None = None, change_window: int = 0, rolling: int = 1) -> pd.DataFrame:
    """``trend`` plus share_corrected, ci_low and ci_high (95 %): each period's share corrected for
    the tagger's errors with the audit sample's rates (``pipeline.audit.Audit``), per source.

    ``rolling`` > 1 (without ``group_by``) adds ``rolling_bounds(rolling)``: the 95 % interval of
    each period's mean corrected share over it and the ``rolling`` - 1 periods before it (those
    with statements: the chart's rolling mean), from the same replicates as the shares, so that the
    audit's uncertainty, which every period shares, is not averaged away.

    ``change_window`` > 0 (weekly or daily periods) adds ``CHANGE_COLUMNS``: each period's change of
    corrected share against the period before it and against the mean corrected share of the
    ``change_window`` periods before it that have statements, with 95 % intervals from the same
    (paired) replicates as the shares'. Only periods inside the filtered dates are bases, so a caller
    wanting whole windows starts the dates that many periods earlier.
    """
    if change_window and granularity == "month":
        raise ValueError("changes of corrected shares are for weekly or daily periods")
    if rolling > 1 and group_by:
        raise ValueError("a rolling mean's interval is for a trend without groups")
    extra = CHANGE_COLUMNS if change_window else ()
    if rolling > 1:
        extra = (*extra, *rolling_bounds(rolling))
    base = trend(conn, f, granularity, group_by)
    for col in ("share_corrected", "ci_low", "ci_high", *extra):
        base[col] = float("nan")
    if base.empty or audit is None:
        return base
    sums = score_sums(conn, f, granularity, group_by)
    if sums.empty:
        return base
    sums["period"] = sums["period"].map(from_day)
    keys = ["period"] + ([group_by] if group_by else [])
    step = dt.timedelta(days=7 if granularity == "week" else 1)
    window = (sorted(base["period"].unique()), rolling) if rolling > 1 else None
    corr = _corrected_by_topic(sums, keys, audit, (step, change_window) if change_window else None, window)
    if corr is None:
        return base
    merged = base.drop(columns=["share_corrected", "ci_low", "ci_high", *extra]).merge(
        corr, on=keys + ["topic"], how="left")
    return merged


def _corrected_by_topic(sums, keys: list[str], audit, changes: tuple[dt.timedelta, int] | None = None,
                        rolling: tuple[list, int] | None = None):
    """Per ``keys`` and topic, the share corrected with the audit's rates (each stratum's own, the
    labelled set's exact) and its 95 % interval, from ``score_sums`` rows; None when no topic of the
    sums is in the audit. What the corrected trend and the corrected totals share.

    ``changes`` (step between periods, window): also ``CHANGE_COLUMNS``, each period's changes
    against earlier periods of its group, from the same bootstrap replicates as the shares.
    ``rolling`` (every period of the chart in order, k; ``keys`` the period alone): also
    ``rolling_bounds(k)``, the interval of the mean over each period and the k - 1 before it.
    """
    import pandas as pd

    from pipeline import correction

    parts = []
    for topic, d in sums.groupby("topic"):
        if topic not in audit.topics:
            continue
        rates = audit.rates(topic)
        strata = sorted(d["stratum"].unique())
        wide = d.pivot_table(index=keys, columns="stratum", values=["n", "s1", "s2"], aggfunc="sum", fill_value=0)
        # Keyed by period (and group) and stratum: a week's interval is the same whatever dates the
        # query covers, so a cited interval can be found again (``correction.keyed_normals``).
        reps = correction.replicates(
            wide["n"][strata].to_numpy(), wide["s1"][strata].to_numpy(), wide["s2"][strata].to_numpy(),
            [correction.exact_rates(s) if s == LABELLED else rates.get(s, rates[correction.POOLED]) for s in strata],
            keys=(list(wide.index), strata))
        out = reps.shares()
        res = wide.index.to_frame(index=False)
        res["topic"] = topic
        res["share_corrected"], res["ci_low"], res["ci_high"] = out.share, out.low, out.high
        if changes is not None:
            previous, recent = _change_bases(res, keys, *changes)
            for name, bases in (("change_prev", previous), ("change_mean", recent)):
                ch = reps.changes(bases)
                res[name], res[f"{name}_low"], res[f"{name}_high"] = ch.share, ch.low, ch.high
        if rolling is not None:
            periods, k = rolling
            at = {p: i for i, p in enumerate(periods)}  # a period's place among all the chart's
            row = {at[p]: r for r, p in enumerate(res["period"])}
            windows = [[row[j] for j in range(at[p] - k + 1, at[p] + 1) if j in row] for p in res["period"]]
            m = reps.means(windows)
            res[rolling_bounds(k)[0]], res[rolling_bounds(k)[1]] = m.low, m.high
        parts.append(res)
    return pd.concat(parts, ignore_index=True) if parts else None


def _change_bases(rows, keys: list[str], step: dt.timedelta, window: int) -> tuple[list[list[int]], list[list[int]]]:
    """``correction.previous_bases`` of the rows' periods, within each group of the other ``keys``
    (a source's change is against the same source's earlier weeks)."""
    import numpy as np

    from pipeline import correction

    previous: list[list[int]] = [[] for _ in range(len(rows))]
    recent: list[list[int]] = [[] for _ in range(len(rows))]
    groups = rows.groupby(keys[1:], sort=False).indices if len(keys) > 1 else {None: np.arange(len(rows))}
    for members in groups.values():
        members = members[np.argsort(rows["period"].to_numpy()[members], kind="stable")]
        prev, rec = correction.previous_bases(list(rows["period"].to_numpy()[members]), step, window)
        for i, row in enumerate(members):
            previous[row] = [int(members[j]) for j in prev[i]]
            recent[row] = [int(members[j]) for j in rec[i]]
    return previous, recent


def score_histograms(conn: sqlite3.Connection) -> pd.DataFrame:
    """Score histogram counts per quarter (its first day), source, topic and bin (correction.BIN_EDGES)."""
    import pandas as pd
    df = pd.DataFrame(conn.execute("SELECT month, source, topic, bin, SUM(n) FROM score_hist "
                                   "GROUP BY 1, 2, 3, 4").fetchall(),
                      columns=["month", "source", "topic", "bin", "n"])
    if df.empty:
        return df.rename(columns={"month": "quarter"})
    months = df["month"].map(from_day)
    df["quarter"] = [dt.date(m.year, 3 * ((m.month - 1) // 3) + 1, 1) for m in months]
    return df.groupby(["quarter", "source", "topic", "bin"], as_index=False)["n"].sum()


def source_years(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(source, year, statements) of every source and year in the store, in that order."""
    return conn.execute("SELECT source, substr(date, 1, 4), COUNT(*) FROM statements GROUP BY 1, 2 "
                        "ORDER BY 1, 2").fetchall()


def source_year_statements(conn: sqlite3.Connection, source: str, year: str) -> list[tuple]:
    """(statement_id, date, source, lang, speaker_raw, text, document path) of one source's statements
    in one year, by statement id."""
    return conn.execute(
        "SELECT s.statement_id, s.date, s.source, s.lang, s.speaker_raw, s.text, d.path FROM statements s "
        "JOIN documents d USING (doc_id) WHERE s.source = ? AND substr(s.date, 1, 4) = ? ORDER BY s.statement_id",
        (source, year)).fetchall()


def texts(conn: sqlite3.Connection) -> list[str]:
    """Every stored statement's text, in the order stored."""
    return [r[0] for r in conn.execute("SELECT text FROM statements ORDER BY sid")]


def has_statements(conn: sqlite3.Connection) -> bool:
    """Whether the store holds any statement."""
    return conn.execute("SELECT 1 FROM statements LIMIT 1").fetchone() is not None


def last_finished_run(conn: sqlite3.Connection) -> str | None:
    """When the store's last run ended (its ``finished_at``, UTC; whatever its status: an interrupted
    run keeps the batches it committed), or None before any run ended."""
    row = conn.execute("SELECT MAX(finished_at) FROM runs").fetchone()
    return row[0] if row else None


def store_version(conn: sqlite3.Connection) -> tuple:
    """Changes whenever a run commits, a retrain swaps its tags in or stored titles are decoded: the last
    statement id, the number of runs, the last run's end, the last swap, the titles' repair."""
    return tuple(conn.execute("SELECT (SELECT MAX(sid) FROM statements), (SELECT COUNT(*) FROM runs), "
                              "(SELECT MAX(finished_at) FROM runs), "
                              "(SELECT value FROM meta WHERE key = 'tags_swapped_at'), "
                              "(SELECT value FROM meta WHERE key = 'titles_decoded')").fetchone())


def sample_texts(conn: sqlite3.Connection, source: str, first: dt.date, last: dt.date, n: int = 300) -> list[str]:
    """Up to ``n`` texts of a source between two dates, spread over the period (a fixed pseudo-random
    pick, so that the same store always gives the same texts)."""
    # The pick is made on the covering index (day, ..., source) and only the picked rows' texts are
    # read: sorting the texts of a whole quarter cost 13 ms a query, 0.6 s for the drift table.
    rows = conn.execute("SELECT text FROM statements WHERE sid IN (SELECT sid FROM statements "
                        "WHERE source = ? AND day BETWEEN ? AND ? ORDER BY (sid * 2654435761) % 4294967291 "
                        "LIMIT ?) ORDER BY (sid * 2654435761) % 4294967291",
                        (source, day_number(first), day_number(last), n)).fetchall()
    return [r[0] for r in rows]


def topic_statements(conn: sqlite3.Connection, source: str, topic: str, first: dt.date, last: dt.date) -> list:
    """The statements of a source tagged with ``topic`` between two dates, with their document's title
    and url: (statement_id, date, week, lang, speaker, role, text, title, url)."""
    bit = topic_bits(conn)[topic]
    return conn.execute(
        "SELECT s.statement_id, s.date, s.week, s.lang, s.speaker, s.role, s.text, d.title, d.url "
        "FROM statements s JOIN documents d ON d.doc_id = s.doc_id "
        f"WHERE s.source = ? AND s.day BETWEEN ? AND ? AND ((s.topic_mask >> {bit}) & 1) = 1",
        (source, day_number(first), day_number(last))).fetchall()


# -- weekly briefs ---------------------------------------------------------------------------------
def weekly_topic_counts(conn: sqlite3.Connection, first: dt.date | None, last: dt.date | None,
                        bits: dict[str, int]) -> dict:
    """{monday: (total, {topic: count})} for the weeks from ``first`` to ``last`` (Mondays; None:
    every week), from the daily counts."""
    sums = ", ".join(f"SUM(n * ((topic_mask >> {b}) & 1))" for b in bits.values())
    lo = day_number(first) if first else -(2 ** 62)
    hi = day_number(last) + 6 if last else 2 ** 62
    rows = conn.execute(f"SELECT week, SUM(n){', ' if sums else ''}{sums} FROM daily WHERE day BETWEEN ? AND ? "
                        "GROUP BY week", (lo, hi)).fetchall()
    return {from_day(r[0]): (r[1], dict(zip(bits, (int(x or 0) for x in r[2:])))) for r in rows}


WeekFacts = tuple[int, list[str], list[str], str]


def week_facts(conn: sqlite3.Connection, monday: dt.date | None = None) -> dict[dt.date, WeekFacts]:
    """Per week (its Monday; only that one when given): documents, sources, the model versions
    that tagged its statements and the last one's topics hash. One pass over the store for
    every week: the briefs of a first run are many."""
    d0, d1 = (day_number(monday), day_number(monday) + 6) if monday else (-(2 ** 62), 2 ** 62)
    docs: dict[dt.date, int] = {}
    span = (monday.isoformat(), (monday + dt.timedelta(days=6)).isoformat()) if monday else ("", "9999-12-31")
    for date, n in conn.execute("SELECT date, COUNT(*) FROM documents WHERE date BETWEEN ? AND ? GROUP BY date", span):
        try:
            day = dt.date.fromisoformat(date)
        except (TypeError, ValueError):
            continue
        week = day - dt.timedelta(days=day.weekday())
        docs[week] = docs.get(week, 0) + n
    sources: dict[dt.date, list[str]] = {}
    for week, source in conn.execute("SELECT DISTINCT week, source FROM daily WHERE day BETWEEN ? AND ? AND n > 0 "
                                     "ORDER BY 1, 2", (d0, d1)):
        sources.setdefault(from_day(week), []).append(source)
    models: dict[dt.date, list[str]] = {}
    for week, version in conn.execute("SELECT DISTINCT week, model_version FROM statements WHERE day BETWEEN ? AND ? "
                                      "ORDER BY 1, 2", (d0, d1)):
        models.setdefault(from_day(week), []).append(version)
    hashes = dict(conn.execute("SELECT version, topics_hash FROM models").fetchall())
    return {w: (docs.get(w, 0), sources.get(w, []), ms, hashes.get(ms[-1]) or "" if ms else "")
            for w, ms in models.items()}


def confident_statements(conn: sqlite3.Connection, first: dt.date, last: dt.date, topic: str,
                         limit: int = 60) -> list[tuple]:
    """The statements tagged with ``topic`` between two dates, most confident first (readable lengths
    only): (text, speaker, date, source, url, title, doc_id, score)."""
    bit = topic_bits(conn)[topic]
    return conn.execute(
        "SELECT s.text, s.speaker, s.date, s.source, d.url, d.title, s.doc_id, "
        "CAST(json_extract(s.scores, '$.' || ?) AS REAL) AS p FROM statements s "
        "JOIN documents d ON d.doc_id = s.doc_id WHERE s.day BETWEEN ? AND ? "
        "AND ((s.topic_mask >> ?) & 1) = 1 AND length(s.text) BETWEEN 60 AND 700 "
        "ORDER BY p DESC, s.day, s.position LIMIT ?",
        (topic, day_number(first), day_number(last), bit, limit)).fetchall()


def weeks_with_statements(conn: sqlite3.Connection) -> list[dt.date]:
    """The Mondays of every week that has statements (from the daily counts)."""
    return [from_day(r[0]) for r in conn.execute("SELECT DISTINCT week FROM daily WHERE n > 0 ORDER BY 1")]


def corrected_totals(conn: sqlite3.Connection, f: Filters, audit, group_by: str) -> pd.DataFrame:
    """Per group (source, role or language) and topic over the whole filtered range: count, total,
    share, and the share corrected for the tagger's errors with its 95 % interval (statements pooled
    over every period, each source corrected with its own audit rates)."""
    import pandas as pd

    tr = trend(conn, f, "month", group_by)
    cols = [group_by, "topic", "count", "total", "share", "share_corrected", "ci_low", "ci_high"]
    if tr.empty:
        return pd.DataFrame(columns=cols)
    out = tr.groupby([group_by, "topic"], as_index=False)[["count"]].sum()
    totals = tr.drop_duplicates(["period", group_by]).groupby(group_by)["total"].sum()
    out["total"] = out[group_by].map(totals)
    out["share"] = out["count"] / out["total"].where(out["total"] > 0)
    for col in ("share_corrected", "ci_low", "ci_high"):
        out[col] = float("nan")
    if audit is None:
        return out[cols]
    sums = score_sums(conn, f, "month", group_by)
    sums = sums.groupby([group_by, "stratum", "topic"], as_index=False)[["n", "s1", "s2"]].sum()
    corr = _corrected_by_topic(sums, [group_by], audit)
    if corr is not None:
        out = out.drop(columns=["share_corrected", "ci_low", "ci_high"]).merge(corr, on=[group_by, "topic"],
                                                                               how="left")
    return out[cols]
