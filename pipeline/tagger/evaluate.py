"""Evaluation against gold labels: per topic and language, micro and macro, vs keywords."""

from __future__ import annotations

import numpy as np

from pipeline.tagger.text import normalise
from pipeline.tagger.topics import Topic, cue_matches


def keyword_baseline(topics: list[Topic], texts: list[str]) -> np.ndarray:
    """A topic applies when any of its cues (after exclusions) occurs: the obvious rule."""
    return np.array([[int(bool(cue_matches(t, normalise(x)))) for t in topics] for x in texts], dtype=int)


def prf(pred: np.ndarray, gold: np.ndarray) -> dict:
    tp = int(np.sum((pred == 1) & (gold == 1)))
    fp = int(np.sum((pred == 1) & (gold == 0)))
    fn = int(np.sum((pred == 0) & (gold == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "support": int(gold.sum())}


def report(names: list[str], langs: list[str], gold: np.ndarray, pred: np.ndarray) -> dict:
    """Scores by language ('all' too): per topic, micro and macro F1."""
    out: dict = {}
    for lang in ["all"] + sorted(set(langs)):
        idx = np.array([lang == "all" or x == lang for x in langs])
        g, p = gold[idx], pred[idx]
        per = {n: prf(p[:, j], g[:, j]) for j, n in enumerate(names)}
        out[lang] = {"n": int(idx.sum()), "topics": per,
                     "micro_f1": prf(p.ravel(), g.ravel())["f1"],
                     "macro_f1": round(float(np.mean([v["f1"] for v in per.values()])), 3)}
    return out


def confident_errors(names: list[str], rows: list[dict], gold: np.ndarray, proba: np.ndarray,
                     thresholds: np.ndarray, k: int = 10) -> list[dict]:
    """The statements the model got wrong with the most confidence. ``thresholds``: one per topic,
    or one per statement and topic (cross-validation applies each fold's own)."""
    thr = np.broadcast_to(thresholds, proba.shape)
    errs = []
    for i, r in enumerate(rows):
        for j, n in enumerate(names):
            pred = proba[i, j] >= thr[i, j]
            if pred != bool(gold[i, j]):
                margin = abs(proba[i, j] - thr[i, j])
                errs.append({"id": r.get("id", i), "lang": r.get("lang", ""), "topic": n,
                             "error": "false positive" if pred else "missed",
                             "score": round(float(proba[i, j]), 3), "margin": margin, "text": r["text"]})
    errs.sort(key=lambda e: -e["margin"])
    for e in errs:
        e.pop("margin")
    return errs[:k]


def _draws(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n_boot) x n: how often each statement is drawn in each replicate; row 0 is the sample itself."""
    counts = rng.multinomial(n, np.full(n, 1 / n), size=n_boot).astype(np.float64)
    return np.vstack([np.ones(n), counts])


def _tally(counts: np.ndarray, g: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tp, fp and fn per replicate (rows of ``counts``) and topic: with counts, they become products."""
    return counts @ (p & g), counts @ (p & ~g), counts @ (~p & g)


def _ratio(num: np.ndarray, denom: np.ndarray) -> np.ndarray:
    # 0 where undefined, as ``prf`` has it, so that row 0 is the report's number.
    return np.divide(num, denom, out=np.zeros_like(num, dtype=np.float64), where=denom > 0)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _f1s(counts: np.ndarray, g: np.ndarray, p: np.ndarray) -> np.ndarray:
    """F1 per replicate (rows of ``counts``) and topic."""
    return _f1(*_tally(counts, g, p))


def _language_rows(langs: list[str]) -> list[tuple[str, np.ndarray]]:
    """Each language ('all' first) and the positions of its statements."""
    return [(lang, np.flatnonzero([lang == "all" or x == lang for x in langs]))
            for lang in ["all"] + sorted(set(langs))]


def _interval(x: np.ndarray, key: str, lo_q: float, hi_q: float) -> dict:
    """``{key: x[0], "low", "high"}``: the sample's value (row 0) and the percentiles of the
    replicates (the other rows), rounded to three places."""
    return {key: round(float(x[0]), 3), "low": round(float(np.percentile(x[1:], lo_q)), 3),
            "high": round(float(np.percentile(x[1:], hi_q)), 3)}


def bootstrap_f1(names: list[str], langs: list[str], gold: np.ndarray, pred: np.ndarray, *,
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """F1, precision and recall per topic, macro and micro F1, per language ('all' too), each with a
    percentile bootstrap interval: the statements of a language are resampled with replacement
    ``n_boot`` times, the same draws for every number.

    Returns ``{lang: {"n": ..., topic: {"f1", "low", "high", "support", "precision": {"precision",
    "low", "high"}, "recall": {"recall", "low", "high"}}, ..., "macro": {...}, "micro": {...}}}``
    (macro and micro: ``{"f1", "low", "high"}``). With a few dozen positives an interval is wide;
    that width is the point (how far a number can be read).
    """
    rng = np.random.default_rng(seed)
    gold, pred = np.asarray(gold, dtype=bool), np.asarray(pred, dtype=bool)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict = {}
    for lang, idx in _language_rows(langs):
        g, p = gold[idx], pred[idx]
        tp, fp, fn = _tally(_draws(len(idx), n_boot, rng), g, p)  # each (1 + n_boot) x topics
        f1, precision, recall = _f1(tp, fp, fn), _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        res: dict = {"n": len(idx)}
        for j, name in enumerate(names):
            res[name] = {**_interval(f1[:, j], "f1", lo_q, hi_q), "support": int(g[:, j].sum()),
                         "precision": _interval(precision[:, j], "precision", lo_q, hi_q),
                         "recall": _interval(recall[:, j], "recall", lo_q, hi_q)}
        res["macro"] = _interval(f1.mean(axis=1), "f1", lo_q, hi_q)
        # Micro: every (statement, topic) pair counted once, as ``report``'s micro F1.
        res["micro"] = _interval(_f1(tp.sum(1), fp.sum(1), fn.sum(1)), "f1", lo_q, hi_q)
        out[lang] = res
    return out


def paired_change(names: list[str], langs: list[str], gold: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                  *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """How much better B tags than A on the same statements: macro F1 of B minus that of A, and per
    topic, per language ('all' too), each with a percentile interval from resampling statements,
    the same draws for both (paired: what both get right or wrong alike does not widen it).

    Returns ``{lang: {"n": ..., "macro": {"change", "low", "high"}, topic: {...}}}``. An interval
    that holds 0 says the two cannot be told apart on these statements.
    """
    rng = np.random.default_rng(seed)
    gold = np.asarray(gold, dtype=bool)
    pred_a, pred_b = np.asarray(pred_a, dtype=bool), np.asarray(pred_b, dtype=bool)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict = {}
    for lang, idx in _language_rows(langs):
        counts = _draws(len(idx), n_boot, rng)
        d = _f1s(counts, gold[idx], pred_b[idx]) - _f1s(counts, gold[idx], pred_a[idx])
        out[lang] = {"n": len(idx), "macro": _interval(d.mean(axis=1), "change", lo_q, hi_q),
                     **{n: _interval(d[:, j], "change", lo_q, hi_q) for j, n in enumerate(names)}}
    return out
