"""The audit sample: a random, stratified sample of stored statements, coded by people and never
used for training. It measures the tagger where it is used (every stored statement), so that
shares can be corrected for its errors and given intervals.

Random on purpose: statements chosen by keywords, by the model's uncertainty or by a person
correcting tags are not a sample of anything, and would bias the correction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import sqlite3
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np

from pipeline import correction, settings
from pipeline.errors import ModelError
from pipeline.readers import file_kind
from pipeline.settings import AUDIT_DIR

SAMPLE_FILE = AUDIT_DIR / "audit.jsonl"
FRAME_FILE = AUDIT_DIR / "frame.json"

def text_key(text: str) -> str:
    """What makes two statements 'the same text' for the disjointness rule: case and spacing aside."""
    # A text already spaced the way the key spaces it (single spaces between words, none at the
    # ends, no other whitespace) is its own lower case: every statement the readers make is, and
    # a run looks each of them up in the labelled set. Every whitespace character but the space is
    # unprintable (Unicode's Cc, Zs, Zl, Zp), so isprintable() rules them out in one C loop: 1.7 s
    # -> 1.0 s over the corpus's statements, the same keys (tests/test_fast_paths.py).
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text.lower()
    # str.split() splits at exactly the characters a regular expression's \s matches, faster.
    return " ".join(text.split()).lower()



def model_mismatch(audit_model: str, tagging: dict[str, int]) -> str | None:
    """A warning when statements of the store were tagged by another model than the one whose audit
    rates correct their shares (``tagging``: ``queries.tagging_models``); None when they all were.

    The correction assumes the scores it adds up come from the model measured on the audit sample;
    another model's scores make the corrected shares and their intervals off by an amount nothing
    here measures."""
    other = {v: n for v, n in tagging.items() if v != audit_model}
    if not other:
        return None
    total = sum(tagging.values())
    names = ", ".join(f"{v or 'unknown'} ({n:,})" for v, n in other.items())
    return (f"{sum(other.values()):,} of {total:,} statements were tagged by another model than {audit_model}, whose "
            f"audit rates correct the shares: {names}. Their corrected shares and intervals are not the audit's; "
            "`python -m pipeline run` re-tags them with the configured model (TOPICS_MODEL).")


def label_files(labels_dir: Path | None = None) -> list[Path]:
    """The labelled set's files (default: the ``labels`` setting's folder), the label log's last: its
    labels replace the shipped ones of the same text. ModelError naming a *.jsonl there that is no
    file to read (a folder, a link that leads nowhere, a device that would be read without end)."""
    folder = Path(labels_dir) if labels_dir is not None else settings.labels_dir()
    files = sorted(folder.glob("*.jsonl"), key=lambda p: (p.name == "corrections.jsonl", p.name))
    for f in files:
        try:
            mode = f.stat().st_mode
        except OSError as exc:
            raise ModelError(f"{f}: cannot read labelled statements ({exc.strerror or exc})") from exc
        if not stat.S_ISREG(mode):
            raise ModelError(f"{f}: not a file of labelled statements "
                             f"({'a folder' if stat.S_ISDIR(mode) else file_kind(mode)})")
    return files


def read_label_file(path: Path) -> str:
    """The text of one file of labelled statements; ModelError naming it when it cannot be read or
    is not UTF-8 (a run would otherwise refuse every transcript for it)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: not UTF-8 text (byte {exc.start}); label files are UTF-8 JSON Lines") from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read labelled statements ({exc.strerror or exc})") from exc


def labels_hash(labels_dir: Path | None = None) -> str:
    """Identifies the labelled set: a hash of its files' names and bytes (hashed once per process
    while the files keep their sizes and modification times: a run asks for it more than once)."""
    files = label_files(labels_dir)
    stats = []
    for f in files:
        st = f.stat()
        stats.append((str(f), st.st_size, st.st_mtime_ns, st.st_ino))
    return _hash_files(tuple(stats))


@lru_cache(maxsize=8)
def _hash_files(stats: tuple[tuple[str, int, int, int], ...]) -> str:
    h = hashlib.sha256()
    for path, *_ in stats:
        h.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=2)
def known_labels(labels_dir: Path | None = None) -> dict[str, tuple[str, ...]]:
    """The topics people gave each labelled text (by ``text_key``): a stored statement with such a
    text is counted with its label, not its score, in corrected shares (the model learnt it).

    Read from the label files once per labelled set, then from a cache beside them
    (``.known-<labels hash>.json``, best effort like the model's compiled form): parsing tens of
    thousands of labels was a quarter of a one-day run."""
    folder = Path(labels_dir) if labels_dir is not None else settings.labels_dir()
    digest = labels_hash(folder)
    cache = folder / f".known-{digest}.json"
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data["labels_hash"] == digest:
            return {k: tuple(v) for k, v in data["known"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no cache, or a damaged one: read the label files
    from pipeline.tagger.train import load_labelled  # it names a bad line

    out = {text_key(obj["text"]): tuple(obj["topics"]) for obj in load_labelled(label_files(folder))}
    _write_known_cache(cache, digest, out)
    return out


def check_labels(labels_dir: Path | None = None) -> None:
    """ModelError when the labelled set cannot be read; said before a run makes its store (its
    workers would refuse every file for it). Costs a stat once the set has been read whole."""
    folder = Path(labels_dir) if labels_dir is not None else settings.labels_dir()
    if not (folder / f".known-{labels_hash(folder)}.json").exists():
        known_labels(folder)


def _write_known_cache(cache: Path, digest: str, known: dict[str, tuple[str, ...]]) -> None:
    """Write the cache atomically (a name of its own per process: workers may write it at once) and
    drop the caches of other labelled sets; a read-only folder only means no cache."""
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"labels_hash": digest, "known": known}, ensure_ascii=False), encoding="utf-8")
        tmp.replace(cache)
        for old in cache.parent.glob(".known-*.json"):
            if old != cache:
                old.unlink(missing_ok=True)
    except OSError:
        tmp.unlink(missing_ok=True)


def training_keys(files: Iterable[Path]) -> set[str]:
    """The text keys of every labelled statement in the given JSON Lines files."""
    keys: set[str] = set()
    for f in files:
        for line in read_label_file(f).splitlines():
            if line.strip():
                keys.add(text_key(json.loads(line)["text"]))
    return keys


def draw(conn: sqlite3.Connection, per_stratum: dict[str, int], *, seed: int,
         exclude: set[str]) -> tuple[list[dict], dict]:
    """Draw ``per_stratum[source]`` statements at random from every (source, year) stratum.

    Statements whose text is in ``exclude`` (the training and evaluation sets) are outside the
    frame. Returns the sample (in a random order, so coders see no stratum runs) and the frame:
    the seed, the population and frame size of every stratum, and how many were drawn.
    """
    from pipeline import queries  # here: runs import this module for its labels, and need no pandas
    from pipeline.labelling import logged_keys

    # Statements in the label log were chosen by a person or by the queue: never in a random sample.
    exclude = set(exclude) | logged_keys(conn)
    rng = random.Random(seed)
    sample: list[dict] = []
    strata = []
    for source, year, n_pop in queries.source_years(conn):
        want = per_stratum.get(source, 0)
        rows = queries.source_year_statements(conn, source, year)
        frame = [r for r in rows if text_key(r[5]) not in exclude]
        picked = rng.sample(frame, min(want, len(frame)))
        strata.append({"source": source, "year": year, "population": n_pop, "frame": len(frame),
                       "drawn": len(picked)})
        sample.extend({"id": r[0], "date": r[1], "source": r[2], "lang": r[3], "speaker": r[4] or "",
                       "doc": Path(r[6]).name, "text": r[5]} for r in picked)
    rng.shuffle(sample)
    info = {"seed": seed, "drawn_at": dt.date.today().isoformat(), "per_stratum": per_stratum,
            "unit": "stored statement (one paragraph by one speaker)",
            "stratified_by": ["source", "year"],
            "excluded": "statements whose text (case and spacing aside) is in pipeline/labels/*.jsonl, "
                        "../shared/labels/dev.jsonl or the store's label log",
            "strata": strata}
    return sample, info


# -- the coded sample, measured against the current model -------------------------------------------
@dataclass
class Audit:
    """The coded audit sample and the current model's scores on it.

    ``gold`` and ``scores`` are (statements x topics) arrays in the order of ``topics``;
    ``weights``: how many statements of the population each audit statement stands for (its
    stratum's frame size over the statements drawn from it).
    """

    ids: list[str]
    texts: list[str]
    sources: np.ndarray
    langs: np.ndarray
    dates: list[str]
    gold: np.ndarray
    scores: np.ndarray
    weights: np.ndarray
    topics: tuple[str, ...]
    thresholds: np.ndarray
    model_version: str
    frame: dict
    boot: np.ndarray = field(repr=False, default=None)
    _rates: dict = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.boot is None:  # one resampling for every topic, so that replicates line up
            self.boot = correction.bootstrap_indices(self.sources, correction.N_BOOT, seed=self.frame.get("seed", 0))

    @property
    def last_audit(self) -> str:
        """The date of the last audit: when the sample was last coded, or drawn ('' when unknown)."""
        return max(self.frame.get("coded_until", ""), self.frame.get("drawn_at", ""))

    def rates(self, topic: str) -> dict[str, correction.Rates]:
        """The topic's audit rates per source (pooled where a source has too few positives)."""
        if topic not in self._rates:
            k = self.topics.index(topic)
            self._rates[topic] = correction.fit_rates(self.scores[:, k], self.gold[:, k], self.sources,
                                                      weights=self.weights, boot=self.boot)
        return self._rates[topic]

    def joint_rates(self, a: str, b: str) -> dict[str, correction.Rates]:
        """The audit rates of "a and b" as a derived topic (``cooccurrence.joint_rates``): its tag is
        both scores reaching their thresholds, as a run tags statements; same resampling as every topic."""
        from pipeline import cooccurrence

        key = tuple(sorted((a, b)))
        if key not in self._rates:
            tags = self.scores >= self.thresholds[None, :]
            self._rates[key] = cooccurrence.joint_rates(tags, self.gold, self.sources, self.topics.index(key[0]),
                                                        self.topics.index(key[1]), weights=self.weights,
                                                        boot=self.boot)
        return self._rates[key]

    def card(self, topic: str) -> dict:
        """The topic's reliability card: P/R/F1 with intervals, calibration, t and f (``rate_intervals``:
        theirs and their separation's), positives."""
        k = self.topics.index(topic)
        out = correction.reliability(self.scores[:, k], self.gold[:, k], float(self.thresholds[k]), self.sources,
                                     weights=self.weights, boot=self.boot)
        rates = self.rates(topic)
        out["rates"] = {s: {"t": _r(r.t), "f": _r(r.f), "positives": r.n_pos, "statements": r.n_pos + r.n_neg,
                            "pooled": r.pooled_fallback, "intervals": correction.rate_intervals(r)}
                        for s, r in rates.items()}
        pooled = rates[correction.POOLED]
        out["warnings"] = warnings_for(rates)
        out["t"], out["f"] = _r(pooled.t), _r(pooled.f)
        out["rate_intervals"] = correction.rate_intervals(pooled)
        out["last_audit"] = self.last_audit
        out["model_version"] = self.model_version
        return out


def _r(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None


def warnings_for(rates: dict[str, correction.Rates]) -> list[str]:
    """What makes a topic's correction shaky: too few audit positives, or scores that barely separate."""
    out = []
    for s, r in rates.items():
        if s == correction.POOLED:
            if r.n_pos < correction.MIN_POSITIVES:
                out.append(f"only {r.n_pos} audit positives in all (fewer than {correction.MIN_POSITIVES}): "
                           "the correction is uncertain")
        elif r.pooled_fallback:
            out.append(f"{s}: {r.n_pos} audit positives (fewer than {correction.MIN_POSITIVES}); "
                       "its true-positive mean score t̂ comes from the positives of all sources")
        if r.separation < correction.MIN_SEPARATION:
            out.append(f"{s}: positives and negatives score only {r.separation:.2f} apart "
                       f"(under {correction.MIN_SEPARATION}): the correction divides by a small number")
    return out


def load(model, path: Path = SAMPLE_FILE, frame_path: Path = FRAME_FILE) -> Audit | None:
    """The audit sample scored by ``model`` (a loaded tagger); None when there is no coded sample."""
    if not Path(path).exists():
        return None
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = json.loads(Path(frame_path).read_text(encoding="utf-8")) if Path(frame_path).exists() else {}
    stratum_weight = {(s["source"], s["year"]): s["frame"] / s["drawn"] for s in frame.get("strata", [])
                      if s.get("drawn")}
    topics = tuple(model.topics)
    gold = np.array([[t in r["topics"] for t in topics] for r in rows], dtype=bool).reshape(len(rows), len(topics))
    scores = np.asarray(model.scores_matrix([r["text"] for r in rows]), dtype=float)
    weights = np.array([stratum_weight.get((r["source"], r["date"][:4]), 1.0) for r in rows])
    return Audit(ids=[r["id"] for r in rows], texts=[r["text"] for r in rows],
                 sources=np.array([r["source"] for r in rows]),
                 langs=np.array([r.get("lang", "") for r in rows]), dates=[r["date"] for r in rows],
                 gold=gold, scores=scores, weights=weights, topics=topics,
                 thresholds=np.asarray(model.estimator.thresholds_, dtype=float), model_version=model.version,
                 frame=frame)



# A quarter whose share of unseen words is over this many times the audit sample's reads new vocabulary.
UNSEEN_WARN_RATIO = 1.5


def quarter_of(d: dt.date) -> dt.date:
    return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def quarter_end(first: dt.date) -> dt.date:
    """The last day of the quarter that starts on ``first``."""
    nxt = dt.date(first.year + 1, 1, 1) if first.month == 10 else dt.date(first.year, first.month + 3, 1)
    return nxt - dt.timedelta(days=1)


def drift(conn: sqlite3.Connection, audit: Audit, model, *, texts_per_quarter: int = 300) -> list[dict]:
    """Per source and quarter: does the period still look like the audit sample?

    For each topic, the quarter's score histogram is compared with the mixture the audit predicts
    for the quarter's corrected share (population stability index; over ``PSI_WARN`` the
    correction's assumption — scores given the truth behave as in the audit — is in doubt). The
    share of words unseen in training is measured on a fixed spread of the quarter's statements
    and compared with the audit sample's own.
    """
    from pipeline import queries

    hist = queries.score_histograms(conn)
    if hist.empty:
        return []
    sums = queries.score_sums(conn, queries.Filters(), "month")
    sums["quarter"] = sums["period"].map(lambda d: quarter_of(queries.from_day(d)))
    sums = sums.groupby(["quarter", "stratum", "topic"])[["n", "s1"]].sum()
    baseline_unseen = model.unseen_share(audit.texts)
    out = []
    for (quarter, source), d in hist.groupby(["quarter", "source"]):
        row = {"quarter": f"{quarter.year}-Q{(quarter.month - 1) // 3 + 1}", "source": source, "topics": {}}
        in_source = audit.sources == source
        for topic, h in d.groupby("topic"):
            if topic not in audit.topics:
                continue
            k = audit.topics.index(topic)
            observed = np.zeros(len(correction.BIN_EDGES) - 1)
            np.add.at(observed, h["bin"].to_numpy(dtype=int), h["n"].to_numpy(dtype=float))
            rates = audit.rates(topic)
            r = rates.get(source, rates[correction.POOLED])
            # The audit's own statements of this source where it has enough of them, else all.
            pos = audit.gold[:, k] & (in_source if source in rates and not r.pooled_fallback else True)
            neg = ~audit.gold[:, k] & (in_source if in_source.any() else True)
            n, s1 = sums.loc[(quarter, source, topic)] if (quarter, source, topic) in sums.index else (0, 0.0)
            share = float(np.nan_to_num(correction.adjust(s1 / n if n else 0.0, r.t, r.f)))
            expected = correction.expected_histogram(
                share, correction.histogram(audit.scores[pos, k], audit.weights[pos]),
                correction.histogram(audit.scores[neg, k], audit.weights[neg]))
            value = correction.psi(observed, expected)
            row["topics"][topic] = {"psi": round(value, 4), "warning": value > correction.PSI_WARN,
                                    "share_corrected": round(share, 4), "statements": int(observed.sum())}
        texts = queries.sample_texts(conn, source, quarter, quarter_end(quarter), texts_per_quarter)
        row["unseen_words"] = round(model.unseen_share(texts), 4)
        row["unseen_texts"] = len(texts)  # the statements the unseen share is read on
        row["unseen_words_audit"] = round(baseline_unseen, 4)
        row["unseen_warning"] = row["unseen_words"] > UNSEEN_WARN_RATIO * baseline_unseen
        row["warning"] = row["unseen_warning"] or any(t["warning"] for t in row["topics"].values())
        out.append(row)
    return out


# -- for the dashboard and `status` -----------------------------------------------------------------
def quarter_label(d: dt.date) -> str:
    """'2025-Q3' for any day of that quarter (the drift rows' ``quarter``)."""
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def drift_reason(row: dict, topics: Iterable[str] | None = None) -> str | None:
    """Why a drift row (``drift``) is flagged, counting only ``topics`` (all when None); None if it is not."""
    psi = [f"{t} PSI {v['psi']:.2f}" for t, v in row.get("topics", {}).items()
           if v.get("warning") and (topics is None or t in topics)]
    if row.get("unseen_warning"):
        psi.append(f"unseen words {100 * row['unseen_words']:.1f} % (audit {100 * row['unseen_words_audit']:.1f} %)")
    return f"{row['source']} {row['quarter']}: " + ", ".join(psi) if psi else None


def flagged_periods(presence, drift_rows: list[dict], granularity: str,
                    topics: Iterable[str] | None = None) -> dict[dt.date, str]:
    """The chart periods that fall in a flagged source-quarter: {period: reasons}.

    ``presence``: a DataFrame of period (first day), source and total (statements passing the
    filters), e.g. ``queries.trend(conn, f, granularity, "source")``. A period counts when the
    flagged source has statements in it and any of its days lies in the flagged quarter.
    """
    from pipeline import queries

    topics = None if topics is None else set(topics)
    flagged = {}
    for row in drift_rows:
        reason = drift_reason(row, topics) if row.get("warning") else None
        if reason:
            flagged[(row["quarter"], row["source"])] = reason
    out: dict[dt.date, list[str]] = {}
    if not flagged or presence is None or len(presence) == 0:
        return {}
    for period, source, total in presence[["period", "source", "total"]].itertuples(index=False):
        if not total:
            continue
        first, last = queries.period_bounds(period, granularity)
        for q in dict.fromkeys((quarter_label(first), quarter_label(last))):
            if (q, source) in flagged and flagged[(q, source)] not in out.get(period, []):
                out.setdefault(period, []).append(flagged[(q, source)])
    return {p: "; ".join(r) for p, r in sorted(out.items())}


def source_warnings(audit: Audit, topic: str, sources: Iterable[str] = ()) -> list[str]:
    """``warnings_for`` the topic, about the given sources only (all when empty) and the pooled rates;
    a given source the audit sample has no statement of is corrected with the pooled rates: said so."""
    rates = audit.rates(topic)
    wanted = set(sources)
    unseen = sorted(wanted - set(rates))
    if wanted:
        rates = {s: r for s, r in rates.items() if s == correction.POOLED or s in wanted}
    return warnings_for(rates) + [f"{s}: no statement of this source in the audit sample; the rates of all "
                                  "sources are used" for s in unseen]


LANGUAGE_NAMES = {"es": "Spanish", "en": "English"}


def coder_agreement(frame: dict, level: float = correction.LEVEL) -> list[dict]:
    """The two independent coders' agreement before adjudication, as ``frame.json`` records it:
    per coding round and language, Cohen's kappa of their yes/no for each topic and the number of
    statements it is over. Rows ``{"round", "language", "statements", "kappa": {topic: value},
    "positives": {topic: [coder 1's, coder 2's]}, "disagreements": {topic: count}, "intervals":
    {topic: {"low", "high"}}}`` (``[]`` when the frame records none). The last three hold only the
    topics whose coders' positives the frame records (``kappa_counts``, ``kappa_interval``).

    Kappa, not the share of statements they agreed on: most statements are about no topic, so two
    coders agree on most of them by chance alone; kappa counts only the agreement beyond chance."""
    rounds = frame.get("rounds") or []
    out = []
    for i, by_lang in enumerate(frame.get("agreement") or []):
        number = rounds[i].get("round", i + 1) if i < len(rounds) else i + 1
        for lang, v in by_lang.items():
            kappa = {t: float(x) for t, x in v.items() if t not in ("n", "pos") and isinstance(x, (int, float))}
            n = int(v["n"])
            row = {"round": number, "language": LANGUAGE_NAMES.get(lang, lang), "statements": n, "kappa": kappa,
                   "positives": {}, "disagreements": {}, "intervals": {}}
            for t, pos in (v.get("pos") or {}).items():
                d = kappa_counts(n, pos[0], pos[1], kappa[t]) if t in kappa and len(pos) == 2 else None
                if d is None:
                    continue
                low, high = kappa_interval(n, pos[0], pos[1], d, level)
                row["positives"][t] = [int(pos[0]), int(pos[1])]
                row["disagreements"][t] = d
                row["intervals"][t] = {"low": _r(low), "high": _r(high)}
            out.append(row)
    return out


def _chance_disagreement(n: int, a: int, b: int) -> float:
    """1 - chance agreement of two coders who say yes to ``a`` and ``b`` of ``n`` statements."""
    return (a * (n - b) + b * (n - a)) / n**2


def cohens_kappa(n: int, a: int, b: int, disagreements: int) -> float:
    """Cohen's kappa of two coders' yes/no over ``n`` statements, ``a`` and ``b`` yes, who differ on
    ``disagreements`` of them: 1 - observed / chance disagreement."""
    chance = _chance_disagreement(n, a, b)
    return 1.0 - disagreements / n / chance if chance > 0 else float("nan")


def kappa_counts(n: int, a: int, b: int, kappa: float, places: int = 3) -> int | None:
    """The number of statements two coders disagreed on, recovered from their positives and their
    kappa rounded to ``places``: the one count whose kappa rounds to it (None if none or several).
    With it the 2x2 table is whole: yes/no = (d + a - b) / 2, no/yes = (d - a + b) / 2."""
    # Disagreements differ from |a - b| by an even number: each statement one coder alone says yes to.
    fits = [d for d in range(abs(a - b), min(a + b, 2 * n - a - b) + 1, 2)
            if round(cohens_kappa(n, a, b, d), places) == round(kappa, places)]
    return fits[0] if len(fits) == 1 else None


def kappa_interval(n: int, a: int, b: int, disagreements: int, level: float = correction.LEVEL) -> tuple[float, float]:
    """A ``level`` interval for Cohen's kappa: the Wilson score interval of the share of statements
    the coders disagree on, divided by the chance disagreement of their observed positives.

    Not the large-sample standard error (Fleiss, Cohen and Everitt 1969): with a kappa near 1 on a
    rare topic the coders disagree on a handful of statements, often none, and a normal interval
    about so few collapses to a point (on synthetic coders with a true kappa of 0.98, 16 positives in
    1,000, it held the truth in 47 %); Wilson's stays honest at zero disagreements. Holding the chance
    disagreement fixed leaves out the marginals' own noise, small beside the count's: 95-96 % coverage
    from kappa 0.8 to 0.98 and 6 to 130 positives in 1,000 (tests/test_audit.py)."""
    z = NormalDist().inv_cdf((1 + level) / 2)
    q = disagreements / n
    centre = (q + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(q * (1 - q) / n + z * z / (4 * n * n))
    chance = _chance_disagreement(n, a, b)
    if chance <= 0:
        return float("nan"), float("nan")
    return max(1 - (centre + half) / chance, -1.0), min(1 - max(centre - half, 0.0) / chance, 1.0)


def summary(audit: Audit) -> dict:
    """A short reliability summary (the `status` command): per topic F1 with its interval, audit
    positives and warnings; the model version and the date of the last audit."""
    topics = {}
    for t in audit.topics:
        c = audit.card(t)
        topics[t] = {"f1": c["f1"], "audit_positives": c["audit_positives"], "t": c["t"], "f": c["f"],
                     "warnings": c["warnings"]}
    return {"model_version": audit.model_version, "audit_statements": len(audit.ids), "last_audit": audit.last_audit,
            "topics": topics}
