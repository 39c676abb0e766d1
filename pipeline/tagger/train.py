"""Training: labelled statements + topics file -> a versioned model file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from pipeline import settings
from pipeline.errors import ModelError
from pipeline.readers.common import json_fault
from pipeline.settings import DEFAULT_MODEL, DEFAULT_TOPICS
from pipeline.tagger import save_model
from pipeline.tagger.topics import load_topics


def load_labelled(paths: list[Path]) -> list[dict]:
    """Read labelled statements (JSON Lines with 'text' and 'topics'), naming the bad line."""
    from pipeline.audit import read_label_file

    rows: list[dict] = []
    for p in paths:
        for n, line in enumerate(read_label_file(p).splitlines(), 1):
            if not line.strip():
                continue
            rows.append(_label_line(p, n, line))
    return rows


def _label_line(path: Path, n: int, line: str) -> dict:
    """One labelled statement; ModelError naming the line and what is wrong with it (it said
    "needs 'text' and 'topics' ('topics')" of a line that was not JSON at all)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}:{n}: {json_fault(exc)}") from exc
    if not isinstance(obj, dict):
        raise ModelError(f"{path}:{n}: a label line must be a JSON object with 'text' and 'topics'")
    if not isinstance(obj.get("text"), str):
        raise ModelError(f"{path}:{n}: 'text' missing or not a string")
    if "topics" not in obj:
        raise ModelError(f"{path}:{n}: 'topics' missing (a list of topic names, [] for none)")
    if not isinstance(obj["topics"], list) or not all(isinstance(t, str) for t in obj["topics"]):
        raise ModelError(f"{path}:{n}: 'topics' must be a list of topic names")
    return obj


def label_files(labels_dir: Path | None = None) -> list[Path]:
    """The label files training reads (``audit.label_files``: the label log's last; default: the
    ``labels`` setting's folder); ModelError when there is none."""
    from pipeline.audit import label_files as files_of

    files = files_of(labels_dir)
    if not files:
        raise ModelError(f"{labels_dir or settings.labels_dir()}: no labelled statements (*.jsonl)")
    return files


def _training_set(labels_dir: Path | None, topics_path: Path):
    """Topics, their hash, the label files (of ``labels_dir``, default the ``labels`` setting's folder),
    the labelled rows and their 0/1 topic matrix (checked)."""
    topics, topics_hash = load_topics(topics_path)
    files = label_files(labels_dir)
    rows = load_labelled(files)
    rows = _corrections_win(files, rows)
    names = [t.name for t in topics]
    unknown = sorted({t for r in rows for t in r["topics"]} - set(names))
    if unknown:
        raise ModelError(f"labels use topics that {topics_path} does not define: {', '.join(unknown)}")
    y = np.array([[int(n in r["topics"]) for n in names] for r in rows])
    _require_examples(names, y)
    return topics, topics_hash, files, rows, y


def _corrections_win(files: list[Path], rows: list[dict]) -> list[dict]:
    """Labels from the label log (``corrections.jsonl``, written by ``train --with-log``) replace
    the other files' labels of the same text: a correction is the later, deliberate reading."""
    from pipeline.audit import text_key
    from pipeline.labelling import CORRECTIONS_FILE

    if not any(f.name == CORRECTIONS_FILE for f in files):
        return rows
    corrected = load_labelled([f for f in files if f.name == CORRECTIONS_FILE])
    keys = {text_key(r["text"]) for r in corrected}
    return [r for r in load_labelled([f for f in files if f.name != CORRECTIONS_FILE])
            if text_key(r["text"]) not in keys] + corrected


def _require_examples(names: list[str], y: np.ndarray, among: str = "") -> None:
    """Refuse to fit a topic from fewer than 10 positive examples (``among`` says of which labels)."""
    thin = [n for n, c in zip(names, y.sum(axis=0)) if c < 10]
    if thin:
        raise ModelError(f"topics with fewer than 10 labelled examples{among}: {', '.join(thin)}; "
                         "label more first")


def _held_out(rows: list[dict], topics, gold: np.ndarray, proba: np.ndarray, thresholds: np.ndarray) -> dict:
    """The report's inputs for statements tagged by a model that did not learn from them."""
    return {"rows": rows, "names": [t.name for t in topics], "gold": gold, "proba": proba,
            "pred": (proba >= thresholds).astype(int), "thresholds": thresholds}


def _estimator(topics, params: dict):
    from pipeline.tagger.model import TopicTagger

    return TopicTagger(topics=[{"name": t.name, "description": t.description, "cues": list(t.cues),
                                "exclude": list(t.exclude)} for t in topics], **params)


def cross_validate(*, labels_dir: Path | None = None, topics_path: Path = DEFAULT_TOPICS, folds: int = 5,
                   random_state: int = 0, **params) -> dict:
    """Out-of-fold scores on the labelled set: every statement is tagged by a model fitted on the
    other folds (vocabulary, weights, calibration and thresholds all learnt inside the fold).

    How a user measures a topic they added without a gold set. Returns the rows, topic names,
    gold matrix, predictions, probabilities and the per-row thresholds that were applied.
    """
    from sklearn.model_selection import KFold

    if folds < 2:
        raise ModelError("cross-validation needs at least 2 folds")
    topics, _, _, rows, y = _training_set(labels_dir, topics_path)
    if folds > len(rows):  # KFold would say so in a traceback
        raise ModelError(f"--cv {folds}: more folds than labelled statements ({len(rows)}); "
                         "each fold needs at least one")
    texts = [r["text"] for r in rows]
    proba = np.zeros(y.shape)
    thresholds = np.zeros(y.shape)
    for a, b in KFold(n_splits=folds, shuffle=True, random_state=random_state).split(texts):
        est = _estimator(topics, params).fit([texts[i] for i in a], y[a])
        proba[b] = est.predict_proba([texts[i] for i in b])
        thresholds[b] = est.thresholds_
    return _held_out(rows, topics, y, proba, thresholds)


def later_dates(*, since: str, labels_dir: Path | None = None, topics_path: Path = DEFAULT_TOPICS,
                **params) -> dict:
    """Train on the labelled statements dated before ``since``, tag those dated ``since`` or later.

    Estimates how the tagger holds up on statements from after the ones it learnt from (what a
    weekly run meets). Statements without a date are left out. Same result shape as
    ``cross_validate``, over the later statements only.
    """
    topics, _, _, rows, y = _training_set(labels_dir, topics_path)
    dates = [str(r.get("date") or "") for r in rows]
    early = np.array([bool(d) and d < since for d in dates])
    late = np.array([d >= since for d in dates])
    if early.sum() < 100 or late.sum() < 20:
        raise ModelError(f"too few dated labels on one side of {since}: {int(early.sum())} before, "
                         f"{int(late.sum())} from then on (need 100 and 20)")
    _require_examples([t.name for t in topics], y[early], f" before {since}")
    texts = [r["text"] for r in rows]
    est = _estimator(topics, params).fit([t for t, e in zip(texts, early) if e], y[early])
    late_rows = [r for r, keep in zip(rows, late) if keep]
    proba = est.predict_proba([r["text"] for r in late_rows])
    thresholds = np.broadcast_to(est.thresholds_, proba.shape)
    return _held_out(late_rows, topics, y[late], proba, thresholds) | {"trained_on": int(early.sum())}


def train(*, labels_dir: Path | None = None, topics_path: Path = DEFAULT_TOPICS,
          out: Path = DEFAULT_MODEL, extra_info: dict | None = None, **params) -> dict:
    """Fit the tagger on every labelled file and write it; returns the model's info (with
    ``extra_info``, e.g. the label log's hash, recorded beside it)."""
    topics, topics_hash, files, rows, y = _training_set(labels_dir, topics_path)
    names = [t.name for t in topics]
    est = _estimator(topics, params)
    est.fit([r["text"] for r in rows], y)
    info = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "topics": names, "topics_hash": topics_hash,
        "thresholds": {n: float(t) for n, t in zip(names, est.thresholds_)},
        "training_statements": len(rows),
        "positives": {n: int(c) for n, c in zip(names, y.sum(axis=0))},
        "label_files": [f.name for f in files],
        # n_jobs says how the fit was run, not what was fitted (the model file leaves it out too).
        "params": {k: v for k, v in est.get_params().items() if k != "n_jobs"} | {"topics": "(topics file)"},
    } | (extra_info or {})
    info["version"] = save_model(est, Path(out), info)
    return info
