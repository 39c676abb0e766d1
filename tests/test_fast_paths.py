"""The cold run's fast paths give exactly what their plain definitions give (issue #13).

Each function below was rewritten for speed; each test holds it to the straightforward version
(written out here, as the definition) on hostile strings, on the seed statements and, with the
shared corpus, on real statements of both languages.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import unicodedata

import numpy as np
import pytest

from pipeline import queries, snapshot, store
from pipeline.audit import text_key
from pipeline.csvsafe import Writer
from pipeline.readers import read_path
from pipeline.readers.common import clean_line, clean_lines
from pipeline.segment import segment
from pipeline.tagger import load_model
from pipeline.tagger.scoring import _first_word_regexes, _gram_columns, _start_flags
from pipeline.tagger.text import normalise
from tests.conftest import SEEDS, need_corpus, run_cli

HOSTILE = [
    "", " ", "¿Qué pasó? ¡Sí!", "ΑΣ ΟΔΟΣ", "İstanbul", "café_au-lait", "x\u0301y", "½ ⅓ ⅔", "ﬁne ﬂow",
    "a\u00a0b\u2009c",
    "\x1cz\x1d", "Ⅻ", "ẞ straße", "x\u034fy", "㎒ ǅ", "“comillas” — guion – corto…", "emoji 🙂 here", "中文 text",
    "<b>bold</b> <a href='x'>link</a>", "see https://example.com/a?b=c and www.gob.mx/x", "MAYÚSCULAS ÑANDÚ",
    "tab\there\nnewline\r\nend", "x" * 300, "a--b -- c-", "ﾊﾝｶｸ", "Ⓐⓑ", "\ufeffBOM", "niño\u0303", "e\u0300\u0316",
]


def _plain_normalise(text: str) -> str:
    """The definition: links and tags out, lower case, accents stripped a character at a time,
    every non-word character but the hyphen a space, spaces collapsed."""
    text = re.sub(r"\(?https?://\S+\)?|www\.\S+", " ", text) if ("http" in text or "www." in text) else text
    text = re.sub(r"</?[a-zA-Z][^>]{0,200}>", " ", text) if "<" in text else text
    text = "".join("".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
                   for ch in text.lower())
    return " ".join(re.sub(r"(?:[^\w\s\-]|_)+", " ", text).split())


def _seed_texts() -> list[str]:
    out = []
    for p in sorted(SEEDS.rglob("*")):
        if p.is_file() and p.suffix in (".txt", ".md") and p.parent != SEEDS:  # not the NOTICE
            for doc in read_path(p).documents:
                out.extend(s.text for s in segment(doc))
        if len(out) > 5000:
            break
    return out


def _corpus_texts(n: int = 20000) -> list[str]:
    corpus = need_corpus()
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in (".txt", ".md"))
    out = []
    for p in random.Random(13).sample(files, 120):
        for doc in read_path(p).documents:
            out.extend(s.text for s in segment(doc))
    return out[:n]


def test_normalise_is_its_definition_on_hostile_strings_and_seed_statements():
    texts = HOSTILE + _seed_texts()
    assert len(texts) > 1000
    assert [normalise(t) for t in texts] == [_plain_normalise(t) for t in texts]
    assert normalise("¿Qué PASÓ con la Seguridad?") == "que paso con la seguridad"


def test_normalise_is_its_definition_on_corpus_statements():
    texts = _corpus_texts()
    assert [normalise(t) for t in texts] == [_plain_normalise(t) for t in texts]


def test_text_key_and_clean_lines_are_their_definitions():
    texts = HOSTILE + _seed_texts()[:2000]
    assert [text_key(t) for t in texts] == [re.sub(r"\s+", " ", t).strip().lower() for t in texts]
    for t in texts + ["a  b\t\tc \u00a0 d\u2009e\u202f f", "  lead and trail  \n\u00a0x\u00a0"]:
        plain = [re.sub(r"[ \t\u00a0\u2009\u202f]+", " ", x).strip() for x in t.split("\n")]
        assert clean_lines(t) == [clean_line(x) for x in t.split("\n")] == plain


def _plain_grams(tokens: list[str], lo: int, hi: int, index: dict[str, int]):
    rows, cols = [], []
    for i, t in enumerate(tokens):
        w = " " + t + " "
        found = sorted({index[g] for n in range(lo, hi + 1) for g in (w[j:j + n] for j in range(len(w) - n + 1))
                        if g in index})
        rows += [i] * len(found)
        cols += found
    return rows, cols


def _plain_flags(tokens: list[str], keys: tuple) -> np.ndarray:
    regexes = [re.compile(r.pattern.removeprefix("(?m)^(?:").removesuffix(")$")) for r in _first_word_regexes(keys)]
    return np.array([[any(r.fullmatch(p) for p in [t] + (t.split("-") if "-" in t else [])) for r in regexes]
                     for t in tokens], dtype=bool).reshape(len(tokens), len(regexes))


def test_character_grams_and_cue_starts_of_unseen_tokens_are_their_definitions():
    est = load_model().estimator
    words = sorted({w for t in HOSTILE + _seed_texts()[:3000] for w in normalise(t).split()})
    unseen = [w for w in words if w not in est.token_index_] + ["narco-violencia", "-x", "x-", "--", "seguridad-social"]
    known = list(est.token_index_)[:3000]
    for tokens in (unseen, known, [], ["a"]):
        r, c = _gram_columns(tokens, *est.char_ngram, est.char_index_)
        assert (r.tolist(), c.tolist()) == _plain_grams(tokens, *est.char_ngram, est.char_index_)
        keys = tuple(est._topic_keys())
        assert np.array_equal(_start_flags(tokens, keys), _plain_flags(tokens, keys))
    # the cue starts of the vocabulary are the ones the model was saved with
    assert np.array_equal(_start_flags(list(est.token_index_), tuple(est._topic_keys())), est.cue_start_)


@pytest.fixture(scope="module")
def tricky_store(tmp_path_factory):
    """A real store holding statements a CSV writer can get wrong."""
    folder = tmp_path_factory.mktemp("tricky")
    lines = ['{"date": "2024-03-04", "speaker": "=HYPERLINK(\\"x\\")", "text": "=1+1 a formula"}',
             '{"date": "2024-03-04", "speaker": "@name", "text": "He said \\"quoted\\" words, and commas"}',
             '{"date": "2024-03-05", "text": "-Sí, la seguridad\\nen dos líneas\\r\\ny más"}',
             '{"date": "2024-03-05", "speaker": "+plus", "text": "\\ttab first; trade and tariffs"}',
             '{"date": "2024-03-06", "text": "Plain migration statement about the border", "title": "-title"}']
    (folder / "tricky.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = folder / "store"
    r = run_cli("run", "--input", str(folder / "tricky.jsonl"), "--store", str(out), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    return out


def _plain_csv(conn) -> str:
    """The definition: every row through csvsafe.Writer, a cell at a time."""
    bits = store.topic_bits(conn)
    buf = io.StringIO(newline="")
    w = Writer(buf)
    w.writerow(queries.EXPORT_COLUMNS)
    for r in queries._export_cursor(conn, None, None):
        topics = ";".join(t for t, b in sorted(bits.items(), key=lambda kv: kv[1]) if (r[10] >> b) & 1)
        w.writerow(r[:10] + (topics,) + r[11:])
    return buf.getvalue()


@pytest.mark.parametrize("which", ["tricky", "seeds"])
def test_csv_lines_built_by_hand_are_the_csv_writers_bytes(which, tricky_store, seed_store):
    conn = store.open_readonly(tricky_store if which == "tricky" else seed_store)
    try:
        buf = io.StringIO(newline="")
        n = queries.write_csv(conn, buf)
        assert buf.getvalue() == _plain_csv(conn)
        rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
        assert len(rows) == n + 1 > 1
        if which == "tricky":
            texts = [r[9] for r in rows[1:]]
            assert "'=1+1 a formula" in texts and any(t.startswith("'-Sí, la seguridad\nen dos") for t in texts)
            assert "'=HYPERLINK(\"x\")" in [r[6] for r in rows[1:]] + [r[5] for r in rows[1:]]
    finally:
        conn.close()


def test_briefs_from_one_pass_equal_briefs_from_their_own_queries(seed_store):
    conn = store.open_readonly(seed_store)
    try:
        weeks = snapshot.completed_weeks(conn)
        assert len(weeks) > 10
        shared = {"counts": queries.weekly_topic_counts(conn, None, None, store.topic_bits(conn)),
                  "facts": queries.week_facts(conn)}
        for week in weeks:
            alone, together = snapshot.compute(conn, week), snapshot.compute(conn, week, shared)
            assert alone == together, week
            assert together["statements"] > 0 and together["documents"] > 0 and together["sources"]
    finally:
        conn.close()


def test_known_labels_come_from_a_cache_that_follows_the_label_files(tmp_path):
    from pipeline.audit import known_labels

    folder = tmp_path / "labels"
    folder.mkdir()
    rows = [{"text": "La  Seguridad pública", "topics": ["security"]},
            {"text": "Aranceles al acero", "topics": ["trade"]}]
    (folder / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    first = known_labels.__wrapped__(folder)
    assert first == {"la seguridad pública": ("security",), "aranceles al acero": ("trade",)}
    caches = list(folder.glob(".known-*.json"))
    assert len(caches) == 1
    assert known_labels.__wrapped__(folder) == first  # read back from the cache
    # the labelled set changes: a new cache, the old one gone, the new label seen
    with open(folder / "a.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "Migrantes en la frontera", "topics": ["migration"]}) + "\n")
    second = known_labels.__wrapped__(folder)
    assert second["migrantes en la frontera"] == ("migration",)
    assert [p.name for p in folder.glob(".known-*.json")] != [caches[0].name]
    # a damaged cache is ignored and rewritten
    cache = next(folder.glob(".known-*.json"))
    cache.write_text("{not json", encoding="utf-8")
    assert known_labels.__wrapped__(folder) == second
    assert json.loads(cache.read_text(encoding="utf-8"))["known"]["migrantes en la frontera"] == ["migration"]


def _plain_score_aggregates(rows, bits, scores=None):
    """The definition: a loop over rows and their topics, adding to one accumulator per key."""
    from bisect import bisect_right

    scores = scores or [json.loads(r[store.ROW_SCORES]) if r[store.ROW_SCORES] else {} for r in rows]
    sums, hist = {}, {}
    for r, sc in zip(rows, scores):
        gold = r[store.ROW_GOLD]
        key = (r[3], r[4], r[5], r[6], r[7], r[10], int(gold is not None))
        for topic, v in sc.items():
            if gold is not None and topic in bits:
                v = float((gold >> bits[topic]) & 1)
            acc = sums.setdefault(key + (topic,), [0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += v
            acc[2] += v * v
            if gold is None:
                cell = (r[5], r[6], topic, bisect_right(store.HIST_EDGES, v))
                hist[cell] = hist.get(cell, 0) + 1
    return {k: tuple(v) for k, v in sums.items()}, hist


def _aggregates_agree(rows, bits, scores=None) -> int:
    sums, hist = store.score_aggregates(rows, bits, scores)
    want_sums, want_hist = _plain_score_aggregates(rows, bits, scores)
    got = {r[:8]: r[8:] for r in sums}
    assert len(got) == len(sums) and got.keys() == want_sums.keys()
    for k, (n, s1, s2) in want_sums.items():  # the same additions in the same order: equal, not close
        assert got[k] == (n, s1, s2), k
    assert {r[:4]: r[4] for r in hist} == want_hist and len(hist) == len(want_hist)
    return len(sums)


def test_score_sums_and_histograms_are_their_definition(seed_store):
    conn = store.open_readonly(seed_store)
    bits = store.topic_bits(conn)
    rows = [r for batch in store.stale_rows(conn, "no such model", 5000) for r in batch]
    rng = random.Random(5)
    # Some rows of the labelled set (their label counts, not their score), scores on the edges
    # of the histogram's bins, and rows whose scores name other topics (a model of other topics).
    gold = [rng.randrange(16) if rng.random() < 0.2 else None for _ in rows]
    rows = [r[:store.ROW_GOLD] + (g,) + r[store.ROW_GOLD + 1:] for r, g in zip(rows, gold)]
    scores = [json.loads(r[store.ROW_SCORES]) for r in rows]
    for sc in scores[::7]:
        sc[next(iter(sc))] = rng.choice(store.HIST_EDGES)
    assert _aggregates_agree(rows, bits) > 100
    assert _aggregates_agree(rows, bits, scores) > 100
    mixed = [sc if i % 3 else {"security": sc["security"], "custom": 0.5} for i, sc in enumerate(scores)]
    assert _aggregates_agree(rows, bits, mixed) > 100
    assert store.score_aggregates([], bits) == ([], [])
