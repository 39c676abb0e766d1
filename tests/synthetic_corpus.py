"""A synthetic records corpus with known truth, for the events and lead/lag tests.

- "Synthetic desk": 8 years of weekly statements, 20 % on migration, and 12 injected spikes: in
  each, 40 extra migration statements that carry a made-up word of their own.
- "Desk A" and "Desk B": three years in which B's migration share follows A's two weeks later.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

FIRST_MONDAY = dt.date(2018, 1, 1)
WEEKS = 418  # 8 years
SPIKE_WEEKS = [40, 70, 101, 130, 162, 190, 221, 250, 283, 311, 345, 380]
TOKENS = ["zorblat", "quenmira", "vashtorel", "plinquor", "drameval", "fostrigan", "kelvorad", "brunnalt",
          "skivreth", "moltaven", "trazzeno", "glimvarde"]
ON_TOPIC = ["Migrants crossing the border seek asylum at the port of entry.",
            "The asylum seekers waiting at the border need shelter and processing.",
            "Border Patrol agents processed families of migrants who crossed the river.",
            "Deportation flights returned migrants to their home countries this week."]
OFF_TOPIC = ["The school lunch program will feed more children this year.",
             "We are opening a new hospital wing in the capital next month.",
             "The weather service expects heavy rain on the coast.",
             "The museum exhibit on ancient pottery opens to the public on Friday."]
SPIKE = ["The {w} migrants crossing the border seek asylum at the port of entry.",
         "Border Patrol agents processed {w} families of migrants who crossed the river."]
LEAD_WEEKS = 160


def _record(day: dt.date, text: str, source: str, i: int) -> str:
    return json.dumps({"date": day.isoformat(), "text": text, "source": source, "lang": "en",
                       "speaker": f"Speaker {i % 3}", "title": f"{source} {day.isoformat()}"})


def _week(rng, day: dt.date, source: str, p: float, n: int = 60) -> list[str]:
    out = []
    for i in range(n):
        pool = ON_TOPIC if rng.random() < p else OFF_TOPIC
        out.append(_record(day, f"{pool[rng.integers(len(pool))]} Item {i}.", source, i))
    return out


def write(folder: Path) -> Path:
    """Write the corpus as JSON Lines files into ``folder``; returns the folder."""
    rng = np.random.default_rng(14)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(WEEKS):
        day = FIRST_MONDAY + dt.timedelta(weeks=k, days=2)
        lines += _week(rng, day, "Synthetic desk", 0.2)
        if k in SPIKE_WEEKS:
            w = TOKENS[SPIKE_WEEKS.index(k)]
            lines += [_record(day, SPIKE[j % 2].format(w=w) + f" Item {j}.", "Synthetic desk", j) for j in range(40)]
    (folder / "desk.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # B's migration share (logit) = 0.9 x A's two weeks earlier + AR(1) noise.
    la = np.zeros(LEAD_WEEKS)
    lb = np.zeros(LEAD_WEEKS)
    for t in range(1, LEAD_WEEKS):
        la[t] = 0.2 * la[t - 1] + rng.normal(0, 0.7)
    noise = np.zeros(LEAD_WEEKS)
    for t in range(1, LEAD_WEEKS):
        noise[t] = 0.3 * noise[t - 1] + rng.normal(0, 0.3)
    lb[2:] = 0.9 * la[:-2]
    lb += noise
    lines = []
    for k in range(LEAD_WEEKS):
        day = FIRST_MONDAY + dt.timedelta(weeks=200 + k, days=3)
        for name, lv in (("Desk A", la[k]), ("Desk B", lb[k])):
            lines += _week(rng, day, name, float(1 / (1 + np.exp(-(lv - 1.2)))), n=80)
    (folder / "desks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def spike_monday(k: int) -> dt.date:
    return FIRST_MONDAY + dt.timedelta(weeks=k)
