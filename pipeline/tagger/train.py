"""Training: labelled statements + topics file -> a versioned model file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError
from pipeline.tagger import DEFAULT_MODEL, save_model
from pipeline.tagger.topics import DEFAULT_TOPICS, load_topics

LABELS_DIR = Path(__file__).resolve().parent.parent / "labels"


def load_labelled(paths: list[Path]) -> list[dict]:
    """Read labelled statements (JSON Lines with 'text' and 'topics'), naming the bad line."""
    rows: list[dict] = []
    for p in paths:
        for n, line in enumerate(Path(p).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj.get("text"), str):
                    raise KeyError("text")
                topics = obj["topics"]
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ModelError(f"{p}:{n}: a label line needs 'text' and 'topics' ({exc})") from exc
            if not isinstance(topics, list):
                raise ModelError(f"{p}:{n}: 'topics' must be a list")
            rows.append(obj)
    return rows


def label_files(labels_dir: Path = LABELS_DIR) -> list[Path]:
    files = sorted(Path(labels_dir).glob("*.jsonl"))
    if not files:
        raise ModelError(f"{labels_dir}: no labelled statements (*.jsonl)")
    return files


def train(*, labels_dir: Path = LABELS_DIR, topics_path: Path = DEFAULT_TOPICS,
          out: Path = DEFAULT_MODEL, **params) -> dict:
    """Fit the tagger on every labelled file and write it; returns the model's info."""
    from pipeline.tagger.model import TopicTagger

    topics, topics_hash = load_topics(topics_path)
    files = label_files(labels_dir)
    rows = load_labelled(files)
    names = [t.name for t in topics]
    unknown = sorted({t for r in rows for t in r["topics"]} - set(names))
    if unknown:
        raise ModelError(f"labels use topics that {topics_path} does not define: {', '.join(unknown)}")
    y = np.array([[int(n in r["topics"]) for n in names] for r in rows])
    thin = [n for n, c in zip(names, y.sum(axis=0)) if c < 10]
    if thin:
        raise ModelError(f"topics with fewer than 10 labelled examples: {', '.join(thin)}; label more first")
    est = TopicTagger(topics=[{"name": t.name, "description": t.description, "cues": list(t.cues),
                               "exclude": list(t.exclude)} for t in topics], **params)
    est.fit([r["text"] for r in rows], y)
    info = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "topics": names, "topics_hash": topics_hash,
        "thresholds": {n: float(t) for n, t in zip(names, est.thresholds_)},
        "training_statements": len(rows),
        "positives": {n: int(c) for n, c in zip(names, y.sum(axis=0))},
        "label_files": [f.name for f in files],
        "params": est.get_params() | {"topics": "(topics file)"},
    }
    info["version"] = save_model(est, Path(out), info)
    return info
