"""Spikes: weeks in which a topic comes up far more than usual for a source, and what they were about.

Detection works on each (topic, source) weekly share, on the logit scale: the baseline of a week is
the median and robust scale (MAD x 1.4826) of the previous 26 weeks; a week with z >= 3 and at least
10 statements on the topic is flagged, and adjacent flagged weeks make one event. The share is the
corrected share (``queries.corrected_trend``) when an audit sample is available, else the raw one.

Each event is explained by the words that set its statements on the topic apart from the baseline
weeks' statements on the topic, per language: weighted log-odds with an informative Dirichlet prior
(Monroe, Colaresi & Quinn 2008, "Fightin' Words"), listed only when the word's excess is significant
after Benjamini-Hochberg over the event's words, and by the statements that carry those words most.

Its reads (the statements of one source, topic and day range) are ``queries.topic_statements``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import queries
from pipeline.audit import text_key
from pipeline.store import day_number

BASELINE_WEEKS = 26
MIN_BASELINE_WEEKS = 13  # a week whose 26-week window holds fewer weeks with statements is not tested
Z_THRESHOLD = 3.0
MIN_COUNT = 10
MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of a normal distribution
TOP_TERMS = 15
TERM_Z = 1.96
# Expected share of an event's listed terms that set nothing apart (Benjamini-Hochberg over the
# event's words): an event whose words differ from the baseline's by chance alone lists a term in
# about 5 % of cases at most (1 of 50 simulated), where z >= 1.96 alone listed 15 (tests/test_events.py).
TERM_FDR = 0.05
TOP_STATEMENTS = 5
PRIOR_STRENGTH = 1000.0  # alpha_0: how many pseudo-words the background prior weighs

# Words that carry no subject in either language. The informative prior shrinks frequent words
# already; these are dropped so that a long-winded week does not "explain" itself with "que".
STOPWORDS = frozenset("""
a al algo ante antes aqui asi aun bien cada como con contra cual cuando de del desde donde dos el ella
ellas ellos en entonces entre era es esa ese eso esta estaba estamos estan estar este esto estos fue
ha hace hacer hay hemos la las le les lo los mas me mi muy nada ni no nos nosotros o otra otro para
pero por porque pues que quien se sea ser si sin sino sobre son su sus tambien tiene tienen todo
todos tu un una uno unos usted ustedes va vamos van ya yo decir dijo digo gracias entonces pregunta
interlocutora interlocutor presidenta presidente bueno ahora
about after all also am an and any are as at be because been before being but by can could did do
does done for from had has have he her here him his how i if in into is it its just know like me more
most my no not now of on one or our out over said say says she so some than that the their them then
there these they this those through to too up us very was we were what when where which who will
with would you your going get got want think thank thanks yes okay well lot mr ms q
enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
january february march april may june july august september october november december
""".split())  # month names set any week apart from the weeks before it, and say nothing of its subject
_URL = re.compile(r"https?://\S+|www\.\S+")
_WORD = re.compile(r"[^\W\d_]{3,}")


@dataclass(frozen=True)
class Weekly:
    """One (topic, source) weekly series: week (Monday), count, total, share and which measure."""

    topic: str
    source: str
    frame: pd.DataFrame  # week, count, total, share (the measure used), share_raw
    measure: str  # "corrected" or "raw"


def logit_shares(count: np.ndarray, total: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Shares on the logit scale, kept finite: a share of 0 or 1 is moved half a statement inward."""
    total = np.asarray(total, dtype=float)
    eps = 0.5 / (total + 1.0)
    p = np.clip(np.asarray(share, dtype=float), eps, 1.0 - eps)
    return np.log(p / (1.0 - p))


def weekly_series(conn: sqlite3.Connection, source: str, audit=None, *, until: dt.date | None = None,
                  topics: Iterable[str] | None = None) -> list[Weekly]:
    """The weekly series of every topic (or ``topics``) of one source, weeks with statements only."""
    f = queries.Filters(sources=(source,), date_to=until, topics=tuple(topics or ()))
    df = queries.corrected_trend(conn, f, audit, "week") if audit is not None else queries.trend(conn, f, "week")
    out = []
    if df.empty:
        return out
    df = df[df["total"] > 0]
    for topic, d in df.groupby("topic"):
        d = d.sort_values("period")
        corrected = "share_corrected" in d and d["share_corrected"].notna().all() and len(d) > 0
        frame = pd.DataFrame({"week": d["period"].to_numpy(), "count": d["count"].to_numpy(int),
                              "total": d["total"].to_numpy(int),
                              "share": (d["share_corrected"] if corrected else d["share"]).to_numpy(float),
                              "share_raw": d["share"].to_numpy(float)})
        if corrected and "ci_low" in d and "ci_high" in d:
            frame["ci_low"], frame["ci_high"] = d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
        out.append(Weekly(str(topic), source, frame.reset_index(drop=True), "corrected" if corrected else "raw"))
    return out


def flag_weeks(weeks: list[dt.date], count: np.ndarray, total: np.ndarray, share: np.ndarray, *,
               window: int = BASELINE_WEEKS, z_min: float = Z_THRESHOLD, min_count: int = MIN_COUNT
               ) -> pd.DataFrame:
    """Score every week against its baseline: week, z, baseline (share), flagged.

    The baseline of a week is the median and MAD x 1.4826 of the logit shares of the weeks with
    statements among the ``window`` calendar weeks before it. The scale is never taken below the
    week's own binomial sampling error at the baseline share: 26 weeks of a rare topic can have a
    MAD near zero, which would make any wobble a spike.
    """
    y = logit_shares(count, total, share)
    days = np.array([day_number(w) for w in weeks])
    z = np.full(len(weeks), np.nan)
    base = np.full(len(weeks), np.nan)
    for i in range(len(weeks)):
        lo = days[i] - 7 * window
        prev = y[(days >= lo) & (days < days[i])]
        if len(prev) < MIN_BASELINE_WEEKS:
            continue
        med = float(np.median(prev))
        mad = float(np.median(np.abs(prev - med))) * MAD_SCALE
        p0 = 1.0 / (1.0 + math.exp(-med))
        sampling = 1.0 / math.sqrt(max(total[i], 1) * p0 * (1.0 - p0))
        z[i] = (y[i] - med) / max(mad, sampling)
        base[i] = p0
    flagged = (z >= z_min) & (np.asarray(count) >= min_count)
    return pd.DataFrame({"week": weeks, "z": z, "baseline": base, "flagged": flagged})


def merge_flags(scored: pd.DataFrame) -> list[list[int]]:
    """Row indexes of flagged weeks grouped into runs of adjacent weeks (weeks with statements)."""
    runs: list[list[int]] = []
    last = None
    for i, flag in enumerate(scored["flagged"].to_numpy()):
        if not flag:
            continue
        if last is not None and i == last + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
        last = i
    return runs


def detect(series: Weekly) -> list[dict]:
    """The events of one weekly series (without their explanation), oldest first."""
    d = series.frame
    if d.empty:
        return []
    scored = flag_weeks(list(d["week"]), d["count"].to_numpy(), d["total"].to_numpy(), d["share"].to_numpy())
    events = []
    for run in merge_flags(scored):
        peak = max(run, key=lambda i: scored["z"].iat[i])
        first, last = d["week"].iat[run[0]], d["week"].iat[run[-1]]
        events.append({
            "id": f"{series.topic}|{series.source}|{first.isoformat()}",
            "topic": series.topic, "source": series.source, "measure": series.measure,
            "start": first.isoformat(), "end": (last + dt.timedelta(days=6)).isoformat(),
            "weeks": [d["week"].iat[i].isoformat() for i in run],
            "peak_week": d["week"].iat[peak].isoformat(), "z": round(float(scored["z"].iat[peak]), 2),
            "count": int(d["count"].iloc[run].sum()), "total": int(d["total"].iloc[run].sum()),
            "share": round(float(d["share"].iat[peak]), 5),
            "baseline_share": round(float(scored["baseline"].iat[peak]), 5),
            # The corrected share's 95 % interval at the peak (None for raw shares: no interval).
            "share_ci": ([round(float(d["ci_low"].iat[peak]), 5), round(float(d["ci_high"].iat[peak]), 5)]
                         if "ci_low" in d and not np.isnan(d["ci_low"].iat[peak]) else None),
        })
    return events


# -- explanation ---------------------------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    """The words of a statement, lower-cased, without stop words, digits or words under 3 letters."""
    return [w for w in _WORD.findall(_URL.sub(" ", text.lower())) if w not in STOPWORDS]


def fightin_words(event: Counter, baseline: Counter, *, prior_strength: float = PRIOR_STRENGTH
                  ) -> list[tuple[str, float, int, int]]:
    """Weighted log-odds of each word in ``event`` against ``baseline`` with an informative
    Dirichlet prior (Monroe, Colaresi & Quinn 2008, eq. 16-22): (word, z, event count, baseline count),
    highest z first.

    The prior is the two groups' pooled word frequencies scaled to ``prior_strength`` pseudo-words,
    so that a rare word needs many occurrences before its log-odds can be large.
    """
    pooled = event + baseline
    n_pool = sum(pooled.values())
    n_i, n_j = sum(event.values()), sum(baseline.values())
    if not n_i or not n_pool:
        return []
    a0 = prior_strength
    out = []
    for w, yi in event.items():
        aw = a0 * pooled[w] / n_pool
        yj = baseline.get(w, 0)
        delta = (math.log((yi + aw) / (n_i + a0 - yi - aw))
                 - math.log((yj + aw) / (n_j + a0 - yj - aw)))
        var = 1.0 / (yi + aw) + 1.0 / (yj + aw)
        out.append((w, delta / math.sqrt(var), yi, yj))
    out.sort(key=lambda r: (-r[1], r[0]))
    return out


def excess_pvalues(rows: list[tuple[str, float, int, int]], n_event: int, n_baseline: int) -> np.ndarray:
    """One-sided exact p-value of each word's event count (``fightin_words`` rows): under the null
    that event and baseline draw their words from one distribution, a word's event count given its
    two counts is binomial with the event's share of all words. (Monroe's z is a normal approximation
    that runs several times too far into the tail for words seen a few times: see the tests.)"""
    # P(X >= k) for X ~ Binomial(n, p) is the regularised incomplete beta I_p(k, n - k + 1), k >= 1:
    # scipy.special loads in 0.16 s where scipy.stats takes 0.65 s, which a one-day run that writes a
    # brief would pay (the same values: tests/test_events.py).
    from scipy.special import betainc

    if not rows:
        return np.zeros(0)
    yi = np.array([r[2] for r in rows], dtype=float)
    yj = np.array([r[3] for r in rows], dtype=float)
    return np.where(yi > 0, betainc(np.maximum(yi, 1.0), yj + 1.0, n_event / (n_event + n_baseline)), 1.0)


def bh_significant(p: np.ndarray, q: float = TERM_FDR) -> np.ndarray:
    """Which p-values Benjamini-Hochberg keeps at false discovery rate ``q`` (a boolean mask)."""
    m = len(p)
    if not m:
        return np.zeros(0, dtype=bool)
    ranked = np.sort(p)
    passing = np.flatnonzero(ranked <= q * np.arange(1, m + 1) / m)
    return p <= ranked[passing[-1]] if len(passing) else np.zeros(m, dtype=bool)


def distinctive(event: Counter, baseline: Counter) -> list[tuple[str, float, int, int]]:
    """The terms an event lists (``fightin_words`` rows, highest z first, at most ``TOP_TERMS``):
    z >= ``TERM_Z`` and an excess that Benjamini-Hochberg at ``TERM_FDR`` keeps among all the
    event's words, so that chance alone, over thousands of words, rarely lists one."""
    rows = fightin_words(event, baseline)
    keep = bh_significant(excess_pvalues(rows, sum(event.values()), sum(baseline.values())))
    return [r for r, k in zip(rows, keep) if k and r[1] >= TERM_Z][:TOP_TERMS]


def explain(conn: sqlite3.Connection, event: dict) -> dict:
    """The event with ``terms`` ({lang: [{term, z, event, baseline}]}, ``distinctive``: top 15 with
    z >= 1.96 that Benjamini-Hochberg keeps; none when nothing sets the event apart),
    ``label`` (its three strongest terms) and ``statements`` (the 5 that carry the terms most)."""
    start, end = dt.date.fromisoformat(event["start"]), dt.date.fromisoformat(event["end"])
    base_start = start - dt.timedelta(weeks=BASELINE_WEEKS)
    rows = queries.topic_statements(conn, event["source"], event["topic"], base_start, end)
    start_day = day_number(start)
    in_event = [r for r in rows if r[2] >= start_day]
    in_base = [r for r in rows if r[2] < start_day]
    terms: dict[str, list[dict]] = {}
    weight: dict[str, float] = {}
    for lang in sorted({r[3] for r in in_event}):
        ev = Counter(w for r in in_event if r[3] == lang for w in tokens(r[6]))
        bl = Counter(w for r in in_base if r[3] == lang for w in tokens(r[6]))
        top = distinctive(ev, bl)
        terms[lang] = [{"term": w, "z": round(z, 2), "event": yi, "baseline": yj} for w, z, yi, yj in top]
        for w, z, _, _ in top:
            weight[w] = max(weight.get(w, 0.0), z)
    ranked = sorted(weight.items(), key=lambda kv: -kv[1])
    scored = []
    for r in in_event:
        words = set(tokens(r[6]))
        s = sum(z for w, z in weight.items() if w in words)
        if s > 0:
            scored.append((s, r))
    scored.sort(key=lambda sr: (-sr[0], sr[1][1], sr[1][0]))
    picked, seen = [], set()
    for s, r in scored:
        key = text_key(r[6])
        if key in seen:
            continue
        seen.add(key)
        picked.append({"statement_id": r[0], "date": r[1], "lang": r[3], "speaker": r[4] or "", "role": r[5],
                       "text": r[6], "title": r[7] or "", "url": r[8] or "", "weight": round(s, 2),
                       "terms": [w for w, _ in ranked if w in set(tokens(r[6]))]})
        if len(picked) == TOP_STATEMENTS:
            break
    return {**event, "label": ", ".join(w for w, _ in ranked[:3]), "terms": terms, "statements": picked,
            "event_statements": len(in_event), "baseline_statements": len(in_base)}


# -- the whole store ---------------------------------------------------------------------------------------
def find(conn: sqlite3.Connection, audit=None, *, topics: Iterable[str] = (), sources: Iterable[str] = (),
         since: dt.date | None = None, until: dt.date | None = None, explained: bool = True) -> list[dict]:
    """Every event of the store (or of the given topics and sources), newest first.

    ``until`` computes as if the store ended that day (what a frozen snapshot saw); ``since`` keeps
    the events that end on or after it (their baselines still reach back before it).
    """
    topics, sources = tuple(topics), tuple(sources)
    all_sources = queries.facets(conn)["sources"]
    events: list[dict] = []
    for source in (s for s in all_sources if not sources or s in sources):
        for series in weekly_series(conn, source, audit, until=until, topics=topics):
            events.extend(detect(series))
    if since is not None:
        events = [e for e in events if e["end"] >= since.isoformat()]
    events.sort(key=lambda e: (e["start"], e["z"]), reverse=True)
    return [explain(conn, e) for e in events] if explained else events


def for_week(conn: sqlite3.Connection, week_monday: dt.date, audit=None) -> list[dict]:
    """The events that include the week starting ``week_monday``, as the store stood at the week's end
    (what a weekly snapshot freezes: summary.json's ``events``, and report.html's list)."""
    sunday = week_monday + dt.timedelta(days=6)
    found = find(conn, audit, until=sunday, explained=False)
    return [explain(conn, e) for e in found if week_monday.isoformat() in e["weeks"]]
