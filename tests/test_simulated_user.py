"""A simulated user (issue #15): one topic's labels corrupted in one slice of the training set, then
200 corrections chosen by the queue or at random. The queue must restore F1 faster.

Real labelled statements (pipeline/labels); a small fast model (word TF-IDF and a logistic
regression for the one topic) so that each of the many retrains takes a fraction of a second;
the queue is the project's own choice (``labelling.pick_uncertain``: scores nearest the threshold,
near-duplicates removed), in batches of 20 with a retrain after each batch, as a user would work.
"""

from __future__ import annotations

import random

import numpy as np

from pipeline import labelling

TOPIC = "security"
BUDGET, BATCH, FLIP = 200, 20, 0.2


def _model(texts, y):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from pipeline.tagger.text import normalise

    return make_pipeline(TfidfVectorizer(preprocessor=normalise, ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                         LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)).fit(texts, y)


def _f1(y, p) -> float:
    tp = int((y & p).sum())
    return 2 * tp / (int(y.sum()) + int(p.sum())) if tp else 0.0


def simulate(seed: int, rows: list[dict]) -> dict:
    """F1 on held-out statements: clean labels, corrupted, after 200 queue / random corrections."""
    rng = random.Random(seed)
    es = [r for r in rows if r.get("lang") == "es"]
    rng.shuffle(es)
    held, pool = es[:1500], es[1500:5500]
    texts = [r["text"] for r in pool]
    truth = np.array([TOPIC in r["topics"] for r in pool])
    held_y = np.array([TOPIC in r["topics"] for r in held])
    held_x = [r["text"] for r in held]
    # The slice: the pool's statements of 2024 onwards; 20 % of its labels for the topic flipped.
    slice_ = [i for i, r in enumerate(pool) if str(r.get("date", "")) >= "2024"]
    flipped = rng.sample(slice_, int(FLIP * len(slice_)))
    noisy = truth.copy()
    noisy[flipped] = ~noisy[flipped]

    def f1_of(y) -> float:
        return _f1(held_y, _model(texts, y).predict(held_x).astype(bool))

    out = {"clean": f1_of(truth), "corrupted": f1_of(noisy), "flipped": len(flipped), "slice": len(slice_)}
    for how in ("queue", "random"):
        y = noisy.copy()
        done: set[int] = set()
        pick = random.Random(seed + 1)
        while len(done) < BUDGET:
            if how == "queue":
                scores = _model(texts, y).predict_proba(texts)[:, 1]
                items = [(str(i), texts[i], float(scores[i])) for i in range(len(texts)) if i not in done]
                batch = [int(i) for i, _, _ in labelling.pick_uncertain(items, 0.5, BATCH)]
            else:
                batch = pick.sample([i for i in range(len(texts)) if i not in done], BATCH)
            for i in batch:  # the user reads the statement and gives its true label
                y[i] = truth[i]
                done.add(i)
        out[how] = f1_of(y)
        out[f"{how}_fixed"] = sum(i in done for i in flipped)
    return out


def test_the_queue_restores_f1_faster_than_random_corrections():
    from pipeline.settings import LABELS_DIR
    from pipeline.tagger.train import label_files, load_labelled

    rows = load_labelled(label_files(LABELS_DIR))
    results = [simulate(seed, rows) for seed in (0, 1, 2)]
    for r in results:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()})
        assert r["corrupted"] < r["clean"]  # the corruption hurts
    gain_q = np.mean([r["queue"] - r["corrupted"] for r in results])
    gain_r = np.mean([r["random"] - r["corrupted"] for r in results])
    print(f"mean F1 restored: queue {gain_q:+.3f}, random {gain_r:+.3f}")
    assert gain_q > gain_r
    # The mechanism: statements near the threshold hold far more of the wrong labels than a random draw.
    assert np.mean([r["queue_fixed"] for r in results]) > 2 * np.mean([r["random_fixed"] for r in results])
