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
from pipeline.tagger import kernel, load_model
from pipeline.tagger.scoring import (
    _first_word_regexes,
    _gram_columns,
    _holds_words,
    _KeyTable,
    _pack,
    _start_flags,
    _token_words,
    _unpack,
)
from pipeline.tagger.text import normalise, normalise_many
from pipeline.tagger.topics import cue_regexes
from tests.conftest import SEEDS, need_corpus, need_kernel, run_cli

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


@pytest.fixture(params=["numpy", "compiled"])
def tagging_path(request, monkeypatch) -> str:
    """Each scoring test runs on both paths: the NumPy one and the compiled loops (``kernel``),
    which must give the same scores to the last bit."""
    if request.param == "numpy":
        monkeypatch.setenv("TOPICS_KERNEL", "0")
        assert kernel.library() is None
    else:
        monkeypatch.setenv("TOPICS_KERNEL", "1")
        need_kernel()
    return request.param


def test_normalise_is_its_definition_on_hostile_strings_and_seed_statements():
    texts = HOSTILE + _seed_texts()
    assert len(texts) > 1000
    assert [normalise(t) for t in texts] == [_plain_normalise(t) for t in texts]
    assert normalise("¿Qué PASÓ con la Seguridad?") == "que paso con la seguridad"


def test_normalise_is_its_definition_on_corpus_statements():
    texts = _corpus_texts()
    assert [normalise(t) for t in texts] == [_plain_normalise(t) for t in texts]


def test_normalise_many_is_normalise_of_each_text(tagging_path):
    # final sigma beside a newline and beside the quotes the batch path replaces early, marks
    # opening a text, other scripts, links and tags, texts with newlines, empty texts
    odd = ["ΟΔΟΣ", "Σ’Α", "Α’Σ", "ΑΣ’", "\u0301e", "e\u0301\u0316", "niño ß æ", "<b\n>x</b>", "http://x.y/z\nq", "",
           "a\nb", "¿Qué?", "‘quote’ “dq” — – ―", "x\u00a0\u2009y", "\x1c\x1d", "tab\tx", "\u200bz", "www.a.b c"]
    rng = random.Random(7)
    for texts in (HOSTILE, odd, _seed_texts()[:3000], [""], ["", ""], ["   "], ["a"]):
        assert normalise_many(texts) == [normalise(t) for t in texts]
        for _ in range(30):
            batch = rng.sample(texts + odd, min(len(texts + odd), rng.randint(1, 12)))
            assert normalise_many(batch) == [normalise(t) for t in batch], batch
    assert normalise_many([]) == []


def test_normalise_many_is_normalise_on_corpus_statements(tagging_path):
    texts = _corpus_texts()
    for i in range(0, len(texts), 700):
        assert normalise_many(texts[i:i + 700]) == [normalise(t) for t in texts[i:i + 700]]


def test_normalise_many_is_normalise_on_random_characters(tagging_path):
    """Batches of random characters: every code point the compiled table covers (and past it), the
    whitespace str.split knows, sigmas, marks, ligatures, astral characters. The compiled loops take
    a character a time from a table derived from the fast path, so a character whose result depended
    on its neighbours would show here."""
    rng = random.Random(5)
    pool = ([chr(c) for c in range(0x20, 0x2300) if not 0xD800 <= c < 0xE000 and c != 10]
            + list(" \t\r\x0b\x0c\x1c\u0085\u2028Σσς\u0301\u0316") * 20 + list("abc áé  -_") * 50
            + ["🙂", "中", "ﬃ", "㎒", "Ⅻ", "ǅ", "İ"])
    for _ in range(2000):
        batch = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 40))) for _ in range(rng.randint(1, 12))]
        assert normalise_many(batch) == [normalise(t) for t in batch], batch


def test_text_key_and_clean_lines_are_their_definitions():
    texts = HOSTILE + _seed_texts()[:2000]
    assert [text_key(t) for t in texts] == [re.sub(r"\s+", " ", t).strip().lower() for t in texts]
    raw = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.rglob("*"))
           if p.is_file() and p.suffix in (".txt", ".md")]
    odd = ["a  b\t\tc \u00a0 d\u2009e\u202f f", "  lead and trail  \n\u00a0x\u00a0", "\t", " ", "\u00a0 \u00a0",
           "x \t", "\u202f\u202fy", "a \u2009", "\t\n \n\u00a0"]
    _assert_clean_lines(texts + raw + odd)


def test_text_key_is_its_definition_on_every_whitespace_character_and_odd_casing():
    # The fast path (a text spaced as its key is its own lower case) must not take a text it would
    # key wrongly: random strings of every whitespace character, invisible format characters and
    # letters whose lower case is longer or depends on their neighbours.
    spaces = [chr(i) for i in range(0x110000) if chr(i).isspace()]
    pool = spaces + ["\u200b", "\xad", "\ufeff", "\u0130", "\u03a3", "\u00df", "\u0345", "\ufb01"] + list("ab c")
    rnd = random.Random(7)
    texts = ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 10))) for _ in range(50_000)]
    assert [text_key(t) for t in texts] == [re.sub(r"\s+", " ", t).strip().lower() for t in texts]


def test_clean_lines_is_its_definition_on_random_runs_of_spaces():
    # Each space-like character the readers collapse, others they keep (an em space, a carriage
    # return), newlines and letters, in random runs.
    pool = [" ", "\t", "\u00a0", "\u2009", "\u202f", "\n", "\r", "\u2003", "a", "b"]
    rnd = random.Random(11)
    _assert_clean_lines(["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 12))) for _ in range(20_000)])


def test_text_key_is_its_definition_on_corpus_statements():
    texts = _corpus_texts()
    assert sum(t.isprintable() for t in texts) > 0.9 * len(texts)  # the fast path is the usual one
    assert [text_key(t) for t in texts] == [re.sub(r"\s+", " ", t).strip().lower() for t in texts]


def _assert_clean_lines(texts: list[str]) -> None:
    for t in texts:
        plain = [re.sub(r"[ \t\u00a0\u2009\u202f]+", " ", x).strip() for x in t.split("\n")]
        assert clean_lines(t) == [clean_line(x) for x in t.split("\n")] == plain


def test_clean_lines_is_its_definition_on_corpus_files():
    corpus = need_corpus()
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in (".txt", ".md"))
    _assert_clean_lines([p.read_text(encoding="utf-8") for p in random.Random(22).sample(files, 150)])


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
    unseen = [w for w in words if w not in est.token_index_] + ["narco-violencia", "-x", "x-", "--", "seguridad-social",
                                                                 "a", "ab", "x" * 40, "ñandú", "中文"]
    known = list(est.token_index_)[:3000]
    for tokens in (unseen, known, [], ["a"]):
        want = _plain_grams(tokens, *est.char_ngram, est.char_index_)
        r, c = _gram_columns(tokens, *est.char_ngram, est.char_index_)
        assert (r.tolist(), c.tolist()) == want
        # the hash table of the model's ASCII grams, for ASCII tokens (the rest as above)
        r, c = _gram_columns(tokens, *est.char_ngram, est.char_index_, est._gram_table())
        assert (r.tolist(), c.tolist()) == want
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
        buf = io.BytesIO()
        n = queries.write_csv(conn, buf)
        text = buf.getvalue().decode("utf-8")
        assert text == _plain_csv(conn)
        rows = list(csv.reader(io.StringIO(text, newline="")))
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


def _tags_agree(texts: list[str]) -> None:
    # The batch path (arrays -> masks, JSON and score sums for all texts at once) against the
    # definition: a Tagged per text, its mask and its JSON one at a time.
    model = load_model()
    bits = {"security": 0, "trade": 1, "migration": 2, "sovereignty": 5}
    batch = model.tag_arrays(texts)
    tags = model.tag(texts)
    assert batch.tagged() == tags
    masks, scores = store.tag_columns(batch, bits)
    assert masks == [store._mask(t.topics, bits) for t in tags]
    assert scores == [json.dumps(t.scores, separators=(",", ":")) for t in tags]
    rows = [(str(i), "d", "2024-01-01", 19723, 19722, 19723, "s", "es", "", "", "", i, t, m, js, "v", None)
            for i, (t, m, js) in enumerate(zip(texts, masks, scores))]
    assert store.score_aggregates(rows, bits, batch) == store.score_aggregates(rows, bits, [t.scores for t in tags])


def test_tags_as_arrays_are_their_definition_on_seed_statements(tagging_path):
    texts = _seed_texts()
    assert sum(bool(t.topics) for t in load_model().tag(texts)) > 100
    _tags_agree(texts)
    _tags_agree([])


def test_tags_as_arrays_are_their_definition_on_corpus_statements(tagging_path):
    _tags_agree(_corpus_texts())


def test_scores_as_json_are_json_dumps_of_every_score(tagging_path):
    """Every score a run can store (0 to 1 in steps of 0.0001), in rows of topics whose names need
    escaping, as json.dumps writes them; a score that is no such number still gets json.dumps's."""
    from pipeline.stages import TaggedBatch

    names = ("security", 'mi"gra\\tion', "soberanía", "100%")
    every = np.arange(10001) / 10000.0
    scores = np.round(np.column_stack([every, every[::-1], np.roll(every, 17), np.roll(every, 4999)]), 4)
    odd = [np.array([[0.5, 0.25, 0.0, v]]) for v in (0.12345, 1.5, -0.0, 1e-7, 0.99995)]
    for arr in (scores, *odd, scores[:0]):
        batch = TaggedBatch(names, arr, arr >= 0.5)
        _, got = store.tag_columns(batch, {n: i for i, n in enumerate(names)})
        assert got == [json.dumps(dict(zip(names, row)), separators=(",", ":")) for row in arr.tolist()]


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


# -- the scoring core (session 24): hashing for bigrams, packed flags, cue words, unseen rows ---

def _reference_proba(est, texts: list[str]) -> np.ndarray:
    """The scoring core before its session-24 fast paths, written out: a binary search for each
    bigram, one bincount per topic and flag, a tuple per unseen token, and the cue regexes on
    every statement holding a token able to start a cue of the topic."""
    norm = [_plain_normalise(t) for t in texts]
    n, index = len(norm), est.token_index_
    n_tok, k = len(index), len(est.topic_names_)
    extra: dict[str, int] = {}
    flat = [t for s in norm for t in s.split()]
    ids = np.array([index[t] if t in index else extra.setdefault(t, n_tok + len(extra)) for t in flat],
                   dtype=np.int64)
    lens = np.array([len(s.split()) for s in norm], dtype=np.int64)
    doc = np.repeat(np.arange(n), lens)
    width = n_tok + len(extra)
    d, t = np.divmod(np.unique(doc * width + ids), width)
    known = t < n_tok
    tk, dk = t[known], d[known]

    def rowsum(rows, vals):
        return np.column_stack([np.bincount(rows, weights=vals[:, c], minlength=n) for c in range(vals.shape[1])]
                               ) if len(rows) else np.zeros((n, vals.shape[1]))

    def binsum(rows, w):
        return np.bincount(rows, weights=w, minlength=n).astype(np.float64)

    wi = est.word_idf_[tk]
    score_w, sq_w = rowsum(dk, est.w_tok_word_[tk]), binsum(dk, wi * wi)
    ok = (doc[:-1] == doc[1:]) & (ids[:-1] < n_tok) & (ids[1:] < n_tok)
    brow, bkey = doc[:-1][ok], ids[:-1][ok] * n_tok + ids[1:][ok]
    keys = est.bigram_keys_
    if len(bkey) and len(keys):
        pos = np.searchsorted(keys, bkey)
        pos[pos >= len(keys)] = 0
        hit = keys[pos] == bkey
        br, bp = np.divmod(np.unique(brow[hit] * len(keys) + pos[hit]), len(keys))
        score_w += rowsum(br, est.w_bigram_[bp])
        sq_w += binsum(br, est.bigram_idf_[bp] ** 2)
    score = score_w / np.maximum(np.sqrt(sq_w), 1e-12)[:, None]
    score_c, sq_c = rowsum(dk, est.w_tok_char_[tk]), binsum(dk, est.tok_char_sq_[tk])
    keys_t = tuple(est._topic_keys())
    cand = np.column_stack([binsum(dk, est.cue_start_[tk, c]) > 0 for c in range(2 * k)])
    if extra:
        names = list(extra)
        r, c = (np.array(x, dtype=np.int64) for x in _plain_grams(names, *est.char_ngram, est.char_index_))
        idf = est.char_idf_[c]
        sc = np.column_stack([np.bincount(r, weights=est.w_char_[c, j] * idf, minlength=len(names)) for j in range(k)])
        sq = np.bincount(r, weights=idf * idf, minlength=len(names)).astype(np.float64)
        uflags = _plain_flags(names, keys_t)
        tu, du = t[~known] - n_tok, d[~known]
        score_c += rowsum(du, sc[tu])
        sq_c += binsum(du, sq[tu])
        cand |= np.column_stack([binsum(du, uflags[tu, c]) > 0 for c in range(2 * k)])
    score += est.char_weight * score_c / np.maximum(np.sqrt(sq_c), 1e-12)[:, None]
    counts = np.zeros((n, k))
    for j, (cues, exclude) in enumerate(keys_t):
        cue_re, ex_re = cue_regexes(cues, exclude)
        for i in np.flatnonzero(cand[:, j]):
            text = ex_re.sub(" ", norm[i]) if ex_re is not None and cand[i, k + j] else norm[i]
            counts[i, j] = len(cue_re.findall(text))
    score += est._cue_block(counts) @ est.w_cue_
    s = score + est.intercept_
    return 1.0 / (1.0 + np.exp(-(s * est.platt_a_ + est.platt_b_)))


def _batches(texts: list[str]) -> list[list[str]]:
    """Batches of many sizes, as the workers send them (a document each), and some odd ones."""
    rng = random.Random(24)
    out, i = [], 0
    while i < len(texts):
        size = rng.choice([1, 2, 7, 60, 300, 900])
        out.append(texts[i:i + size])
        i += size
    return out + [[""], ["", "  "], ["zzqx qqzx"], ["narco-violencia seguridad social-x anti-t-mec"]]


def _assert_scores_are_their_definition(est, texts: list[str]) -> int:
    from pipeline.tagger import scoring

    compared = 0
    old = scoring._TABLES_AFTER, scoring._WORDS_AFTER
    # hash tables and the cue-word filter from the start, never, and from some way in
    for after in ((0, 0), (10**12, 10**12), (500, 2000)):
        scoring._UNSEEN.clear()
        scoring._TABLES.clear()
        scoring._SCORED.clear()
        scoring._TABLES_AFTER, scoring._WORDS_AFTER = after
        try:
            for batch in _batches(texts):
                assert np.array_equal(est.predict_proba(batch), _reference_proba(est, batch)), batch[:3]
                compared += len(batch)
        finally:
            scoring._TABLES_AFTER, scoring._WORDS_AFTER = old
    return compared


def test_scores_are_their_definition_on_hostile_strings_and_seed_statements(tagging_path):
    est = load_model().estimator
    assert _assert_scores_are_their_definition(est, HOSTILE + _seed_texts()) > 2000


def test_scores_are_their_definition_on_corpus_statements(tagging_path):
    est = load_model().estimator
    assert _assert_scores_are_their_definition(est, _corpus_texts()) >= 60000


def test_separator_led_cue_regexes_count_what_the_cue_regexes_count():
    # Random normalised texts of cue words, their parts and neighbours (hyphens, digits, repeats):
    # counting matches after the exclusions must give what cue_regexes give, for the shipped topics
    # and for phrase sets with stars, shared prefixes and hyphens inside.
    from pipeline.tagger.scoring import _separator_led
    from pipeline.tagger.topics import load_topics

    sets = [(t.cues, t.exclude) for t in load_topics()[0]] + [
        (("guerra", "guerra fria", "guerr*", "narco-violencia", "t-mec", "a"), ("guerra civil", "fria")),
        (("x1", "x1 x2 x3", "x*"), ()),
    ]
    words = ["guerra", "fria", "civil", "guerras", "narco", "violencia", "narco-violencia", "t-mec", "t", "mec",
             "a", "ab", "x1", "x2", "x3", "x", "-", "seguridad", "social", "aranceles", "migrantes", "frontera",
             "soberania", "9", "anti-guerra", "guerra-fria"]
    rnd = random.Random(5)
    texts = [normalise(" ".join(rnd.choice(words) for _ in range(rnd.randint(0, 9)))) for _ in range(6000)]
    texts += [normalise(t) for t in _seed_texts()[:1500]]
    for cues, exclude in sets:
        cue_re, ex_re = cue_regexes(cues, exclude)
        led_cue, led_ex = _separator_led(cues, exclude)
        for t in texts:
            plain = ex_re.sub(" ", t) if ex_re is not None else t
            led = led_ex.sub(r"\1 ", " " + t) if led_ex is not None else " " + t
            assert len(cue_re.findall(plain)) == len(led_cue.findall(led)), (cues, t)
    # Where a phrase begins or ends with a hyphen the two would differ: the plain regexes are used.
    assert _separator_led(("anti-",), ()) is None and _separator_led(("x",), ("-y",)) is None


def test_key_table_finds_what_a_binary_search_finds():
    rng = np.random.default_rng(24)
    for n in (0, 1, 5, 1000, 100_000):
        keys = np.unique(rng.integers(0, 2**40, size=n))
        table = _KeyTable(keys)
        queries = np.concatenate([keys, rng.integers(0, 2**40, size=3 * n + 3), keys[::-3] + 1]).astype(np.int64)
        pos = np.searchsorted(keys, queries)
        found = (pos < len(keys)) & (keys[np.minimum(pos, max(len(keys) - 1, 0))] == queries if len(keys) else False)
        assert np.array_equal(table.find(queries), np.where(found, pos, -1))
        assert table.find(np.zeros(0, dtype=np.int64)).shape == (0,)
    with pytest.raises(ValueError):
        _KeyTable(np.array([3, 1, 3]))
    # keys of two columns (tokens' bytes): found at their place whatever their order
    a = rng.integers(0, 50, size=5000).astype(np.uint64)
    b = rng.integers(0, 2**64 - 1, size=5000, dtype=np.uint64, endpoint=True)
    a, b = np.unique(np.stack([a, b]), axis=1)
    perm = rng.permutation(len(a))
    table = _KeyTable(a[perm], b[perm])
    want = np.argsort(perm)
    assert np.array_equal(table.find(a, b), want)
    place = {(x, y): i for i, (x, y) in enumerate(zip(a[perm].tolist(), b[perm].tolist()))}
    qa, qb = np.concatenate([a, a]), np.concatenate([b + np.uint64(1), b[::-1]])
    assert table.find(qa, qb).tolist() == [place.get(q, -1) for q in zip(qa.tolist(), qb.tolist())]
    with pytest.raises(ValueError):
        _KeyTable(np.array([1, 1], dtype=np.uint64), np.array([2, 2], dtype=np.uint64))


def test_token_words_are_the_tokens_bytes():
    texts = [normalise(t) for t in HOSTILE + _seed_texts()[:2000]] + ["a" * 16 + " " + "b" * 17 + " x", "ñandú 中文 é"]
    data = " ".join(texts).encode("utf-8")
    starts, ends, w1, w2 = _token_words(data)
    tokens = " ".join(texts).split()
    assert [data[a:b].decode("utf-8") for a, b in zip(starts, ends)] == tokens
    for t, x, y in zip(tokens, w1.tolist(), w2.tolist()):
        raw = t.encode("utf-8")
        if len(raw) <= 16:
            assert (x, y) == (int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:16], "little"))


def test_cue_words_held_and_packed_flags_are_their_definitions():
    est = load_model().estimator
    words = est._cue_words()
    tokens = sorted({w for t in HOSTILE + _seed_texts()[:3000] for w in normalise(t).split()})
    tokens += list(est.token_index_)[:5000]
    want = np.array([[any(w in t for w in ws) for ws in words] for t in tokens], dtype=bool)
    assert np.array_equal(_holds_words(tokens, words), want)
    assert _holds_words([], words).shape == (0, len(words))
    flags = np.random.default_rng(1).random((50, 130)) < 0.3
    assert np.array_equal(_unpack(_pack(flags), 130), flags)
    # every word of a cue of a topic is a word of one of that topic's cues
    for (cues, _), ws in zip(est._topic_keys(), words):
        assert all(any(w in normalise(c.rstrip("*")).split() for c in cues) for w in ws)


def test_audit_rates_replicates_are_their_definition():
    # fit_rates multiplies per statement before gathering the bootstrap replicates; the definition
    # gathers scores, weights and verdicts first and multiplies per replicate. Bit for bit the same,
    # pooled and per stratum, with weights and without.
    from pipeline import correction

    rng = np.random.default_rng(7)
    n = 900
    scores = rng.random(n)
    gold = rng.random(n) < scores  # positives score higher, as a calibrated tagger's do
    strata = rng.choice(np.array(["Mexican presidency", "White House", "labelled"]), n)
    for weights in (None, rng.uniform(0.5, 3.0, n)):
        w = np.ones(n) if weights is None else weights
        boot = correction.bootstrap_indices(strata, 200, seed=3)
        got = correction.fit_rates(scores, gold, strata, weights=weights, boot=boot)
        for name, r in got.items():
            sel = np.arange(n) if name == correction.POOLED else np.flatnonzero(strata == name)
            b = boot if name == correction.POOLED else boot[:, np.isin(boot[0], sel)]
            bs, bg, bw = scores[b], gold[b], w[b]
            t_def = (bs * bw * bg).sum(1) / (bw * bg).sum(1)
            f_def = (bs * bw * ~bg).sum(1) / (bw * ~bg).sum(1)
            assert np.array_equal(r.f_reps, f_def)
            if not r.pooled_fallback:
                assert np.array_equal(r.t_reps, t_def)


def test_sampled_texts_are_their_definition(seed_store):
    # The drift table's sample is picked on the index and only its texts read: the same texts in
    # the same order as sorting every text of the period.
    import datetime as dt

    conn = store.open_readonly(seed_store)
    try:
        for source in ("Mexican presidency", "White House"):
            first, last = dt.date(2019, 1, 1), dt.date(2026, 12, 31)
            want = [r[0] for r in conn.execute(
                "SELECT text FROM statements WHERE source = ? AND day BETWEEN ? AND ? "
                "ORDER BY (sid * 2654435761) % 4294967291 LIMIT 40",
                (source, queries.day_number(first), queries.day_number(last)))]
            assert len(want) == 40
            assert queries.sample_texts(conn, source, first, last, 40) == want
    finally:
        conn.close()


def _store_contents(db) -> dict:
    """What a store holds, run log aside: its schema, statements, count and score tables, files and
    documents (their run ids and times aside), the search index's settings and what searches find."""
    import sqlite3

    with sqlite3.connect(db) as c:
        def rows(sql: str) -> list:
            return c.execute(sql).fetchall()

        return {
            "schema": sorted(rows("SELECT type, name, tbl_name, sql FROM sqlite_master")),
            "statements": rows("SELECT * FROM statements ORDER BY sid"),
            **{t: sorted(rows(f"SELECT * FROM {t}")) for t in ("daily", "daily_scores", "score_hist", "speakers")},
            "documents": rows("SELECT doc_id, file_hash, path, format, date, source, lang, title, url, n_statements "
                              "FROM documents ORDER BY 1"),
            "files": rows("SELECT path, file_hash, format, size, mtime_ns FROM files ORDER BY 1"),
            "fts_config": rows("SELECT * FROM statements_fts_config ORDER BY 1"),
            "search": [rows("SELECT rowid FROM statements_fts WHERE statements_fts MATCH "
                            f"'{q}' ORDER BY rank, rowid") for q in ("seguridad", "\"la frontera\"", "border OR tariff",
                                                                      "migra*", "NEAR(mexico security, 5)")],
        }


def test_a_cold_run_that_builds_its_indexes_at_the_end_stores_what_the_plain_run_stores(tmp_path, monkeypatch):
    from pipeline import ingest

    fast, plain = tmp_path / "fast", tmp_path / "plain"
    deferred = []
    real = store.defer_indexes
    monkeypatch.setattr(store, "defer_indexes", lambda conn: deferred.append(real(conn)) or deferred[-1])
    ingest.run([str(SEEDS)], str(fast), workers=1)
    assert deferred == [True]  # the fast path was taken
    monkeypatch.setattr(store, "defer_indexes", lambda conn: False)  # the plain path: indexes kept up to date
    ingest.run([str(SEEDS)], str(plain), workers=1)
    got, want = _store_contents(store.db_path(fast)), _store_contents(store.db_path(plain))
    assert got["statements"] and all(got["search"])
    assert got == want
    assert {n for (t, n, _, _) in got["schema"] if t == "index"} >= set(store.SECONDARY_INDEXES)


def test_indexes_left_unbuilt_by_a_killed_cold_run_are_built_by_the_next_open(tmp_path):
    conn = store.open_store(tmp_path / "s")
    try:
        assert store.defer_indexes(conn)
        hashsize = conn.execute("SELECT v FROM statements_fts_config WHERE k = 'hashsize'").fetchone()
        assert hashsize == (store.BULK_FTS_HASH,)
    finally:
        conn.close()  # killed before restore_indexes
    conn = store.open_store(tmp_path / "s")
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert set(store.SECONDARY_INDEXES) <= names
        assert conn.execute("SELECT k FROM statements_fts_config ORDER BY k").fetchall() == [
            ("automerge",), ("version",)]  # the bulk load's buffer setting is gone
        conn.execute("INSERT INTO statements(statement_id, doc_id, date, day, week, month, source, lang, role, "
                     "position, text) VALUES ('s', 'd', '2026-01-12', 0, 0, 0, 'x', 'es', 'other', 0, 't')")
        assert not store.defer_indexes(conn)  # a store that holds statements keeps its indexes
        assert set(store.SECONDARY_INDEXES) <= {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()
