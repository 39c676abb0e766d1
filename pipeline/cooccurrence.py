"""Topics that come up together: per pair of topics, the share of statements about both, corrected
for the tagger's errors with a 95 % interval (pure functions over plain data; the SQL that feeds
them is ``queries.mask_counts``).

"A and B" is treated as a derived binary topic. Its tag is the product of the two tags (0 or 1),
its truth the product of the coders' labels. On the audit sample its true-positive rate t̂ (the
share of statements about both that are tagged with both) and false-positive rate f̂ (the share of
the others that are) correct the share tagged with both, q, as adjusted classify-and-count
(Forman 2005): (q − f̂) / (t̂ − f̂), with ``correction.replicates``' bootstrap interval, which is what
corrects a single topic's mean score. The store keeps tags per statement and combination of facets
(``daily``), not products of two topics' scores, so the joint correction uses tags: what the chart
counted before, now corrected.

The audit sample holds few statements about two topics at once (32 about migration and security,
at most 9 for any other pair). Below ``MIN_JOINT_POSITIVES`` of them t̂ rests on a handful of
statements: such a pair is shown as tagged, marked, with the number behind it, never corrected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import correction
from pipeline.queries import LABELLED

# As for a single topic: below this many audit statements about both topics, t̂ is too noisy.
MIN_JOINT_POSITIVES = correction.MIN_POSITIVES

# What a cell shows (column ``status``).
CORRECTED = "corrected"
WIDE = "wide"          # corrected, but the 95 % interval is wider than the share itself
THIN = "thin"          # too few audit statements about both: as tagged, not corrected
NO_AUDIT = "no audit"  # no audit sample at all: as tagged


def pair_tags(tags: np.ndarray, gold: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The joint topic's tag and truth on the audit sample: products of columns ``a`` and ``b`` of
    the (statements x topics) boolean arrays ``tags`` and ``gold``."""
    return tags[:, a] & tags[:, b], gold[:, a] & gold[:, b]


def joint_rates(tags: np.ndarray, gold: np.ndarray, strata: np.ndarray, a: int, b: int, *,
                weights: np.ndarray | None = None, boot: np.ndarray | None = None,
                seed: int = 0) -> dict[str, correction.Rates]:
    """Audit rates of "topic a and topic b" per stratum and pooled (``correction.fit_rates`` with the
    0/1 joint tag as the score: t̂ is then its true-positive rate, f̂ its false-positive rate)."""
    tag, truth = pair_tags(np.asarray(tags, bool), np.asarray(gold, bool), a, b)
    return correction.fit_rates(tag.astype(float), truth, np.asarray(strata), weights=weights, boot=boot, seed=seed)


def pair_sums(masks: pd.DataFrame, bit_a: int, bit_b: int) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """From ``queries.mask_counts`` rows (source, tag_mask, gold_mask, n; gold_mask -1 outside the
    labelled set): the strata, their statements and statements counted about both topics (tags
    outside the labelled set, people's labels inside it, which the correction takes as exact), and
    the statements tagged with both (the uncorrected count)."""
    tm, gm = masks["tag_mask"].to_numpy(np.int64), masks["gold_mask"].to_numpy(np.int64)
    tag = (tm >> bit_a) & (tm >> bit_b) & 1
    labelled = gm >= 0
    gold = (gm >> bit_a) & (gm >> bit_b) & 1
    value = np.where(labelled, gold, tag)
    stratum = np.where(labelled, LABELLED, masks["source"].astype(str).to_numpy())
    n = masks["n"].to_numpy(np.int64)
    strata = sorted(set(stratum.tolist()))
    at = {s: i for i, s in enumerate(strata)}
    idx = np.array([at[s] for s in stratum], dtype=np.int64)
    counts = np.bincount(idx, weights=n, minlength=len(strata)) if len(idx) else np.zeros(0)
    both = np.bincount(idx, weights=n * value, minlength=len(strata)) if len(idx) else np.zeros(0)
    return strata, counts, both, int((n * tag).sum())


def corrected_pair(strata: list[str], n: np.ndarray, both: np.ndarray,
                   rates: dict[str, correction.Rates]) -> correction.Corrected:
    """The share of statements about both topics, corrected, with its 95 % interval (arrays of one):
    each source corrected with its own joint rates (the pooled ones for a source the audit lacks),
    the labelled set counted as exact. A 0/1 value's sum of squares is its sum."""
    pooled = rates[correction.POOLED]
    per = [correction.exact_rates(s, len(pooled.t_reps)) if s == LABELLED else rates.get(s, pooled) for s in strata]
    n2, b2 = np.asarray(n, float)[None], np.asarray(both, float)[None]
    return correction.corrected_shares(n2, b2, b2, per)


def cell_status(share: float, low: float, high: float, positives: int | None) -> str:
    """What a cell can claim: ``NO_AUDIT`` (``positives`` None), ``THIN`` (fewer than
    ``MIN_JOINT_POSITIVES`` audit statements about both, or no correction possible), ``WIDE`` (an
    interval wider than the corrected share: not even its order of magnitude is known) or
    ``CORRECTED``."""
    if positives is None:
        return NO_AUDIT
    if positives < MIN_JOINT_POSITIVES or not np.isfinite(share) or not np.isfinite(low) or not np.isfinite(high):
        return THIN
    return WIDE if high - low > share else CORRECTED


COLUMNS = ["topic_a", "topic_b", "count", "total", "share", "share_corrected", "ci_low", "ci_high",
           "audit_positives", "status"]


def corrected_pairs(masks: pd.DataFrame, bits: dict[str, int], topics: list[str],
                    rates: dict[tuple[str, str], dict[str, correction.Rates]] | None,
                    diagonal: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every ordered pair of ``topics`` (both triangles, for the heat map): statements tagged with both
    (count), all statements (total), share as tagged, and the corrected share with its 95 % interval,
    the audit statements about both (audit_positives) and ``cell_status``.

    ``rates``: ``joint_rates`` per unordered pair (its two topics sorted), None without an audit sample;
    ``diagonal``: per topic its corrected share (share_corrected, ci_low, ci_high, audit_positives), the
    single topic's as the rest of the product corrects it (mean scores); without it the diagonal is
    corrected from tags like the pairs."""
    total = int(masks["n"].sum()) if len(masks) else 0
    diag = diagonal.set_index("topic") if diagonal is not None and len(diagonal) else None
    cells: dict[tuple[str, str], dict] = {}
    for i, a in enumerate(topics):
        for b in topics[i:]:
            strata, n, both, count = pair_sums(masks, bits[a], bits[b])
            row = {"count": count, "total": total, "share": count / total if total else np.nan,
                   "share_corrected": np.nan, "ci_low": np.nan, "ci_high": np.nan, "audit_positives": None}
            if a == b and diag is not None and a in diag.index:
                d = diag.loc[a]
                row.update(share_corrected=float(d["share_corrected"]), ci_low=float(d["ci_low"]),
                           ci_high=float(d["ci_high"]), audit_positives=int(d["audit_positives"]))
            elif rates is not None and tuple(sorted((a, b))) in rates and total:
                r = rates[tuple(sorted((a, b)))]
                out = corrected_pair(strata, n, both, r)
                row.update(share_corrected=float(out.share[0]), ci_low=float(out.low[0]), ci_high=float(out.high[0]),
                           audit_positives=int(r[correction.POOLED].n_pos))
            row["status"] = cell_status(row["share_corrected"], row["ci_low"], row["ci_high"], row["audit_positives"])
            if row["status"] in (THIN, NO_AUDIT):  # never a bare corrected number that cannot be trusted
                row.update(share_corrected=np.nan, ci_low=np.nan, ci_high=np.nan)
            cells[(a, b)] = cells[(b, a)] = row
    rows = [{"topic_a": a, "topic_b": b, **cells[(a, b)]} for a in topics for b in topics]
    return pd.DataFrame(rows, columns=COLUMNS)
