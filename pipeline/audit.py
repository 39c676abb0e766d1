"""The audit sample: a random, stratified sample of stored statements, coded by people and never
used for training. It measures the tagger where it is used (every stored statement), so that
shares can be corrected for its errors and given intervals.

Random on purpose: statements chosen by keywords, by the model's uncertainty or by a person
correcting tags are not a sample of anything, and would bias the correction.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

AUDIT_DIR = Path(__file__).resolve().parent / "audit"
SAMPLE_FILE = AUDIT_DIR / "audit.jsonl"
FRAME_FILE = AUDIT_DIR / "frame.json"

_WS = re.compile(r"\s+")


def text_key(text: str) -> str:
    """What makes two statements 'the same text' for the disjointness rule: case and spacing aside."""
    return _WS.sub(" ", text).strip().lower()


def training_keys(files: Iterable[Path]) -> set[str]:
    """The text keys of every labelled statement in the given JSON Lines files."""
    keys: set[str] = set()
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
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
    rng = random.Random(seed)
    sample: list[dict] = []
    strata = []
    for source, year, n_pop in conn.execute(
            "SELECT source, substr(date, 1, 4), COUNT(*) FROM statements GROUP BY 1, 2 ORDER BY 1, 2").fetchall():
        want = per_stratum.get(source, 0)
        rows = conn.execute(
            "SELECT s.statement_id, s.date, s.source, s.lang, s.speaker_raw, s.text, d.path FROM statements s "
            "JOIN documents d USING (doc_id) WHERE s.source = ? AND substr(s.date, 1, 4) = ? ORDER BY s.statement_id",
            (source, year)).fetchall()
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
            "excluded": "statements whose text (case and spacing aside) is in pipeline/labels/*.jsonl or "
                        "../shared/labels/dev.jsonl",
            "strata": strata}
    return sample, info
