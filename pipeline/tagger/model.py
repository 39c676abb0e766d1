"""The topic tagger: a scikit-learn multi-label estimator, bilingual, with explanations.

Features, all over normalised text (accents and case removed, so Spanish and English share one
vocabulary) split into whitespace tokens:

- word unigrams and bigrams (binary, idf-weighted, l2-normalised);
- character n-grams (2..5, inside word boundaries like ``char_wb``) pooled over the distinct
  tokens of a statement (idf-weighted; normalised by the root of the summed squared token
  norms). This is what carries Spanish morphology and cross-lingual cognates;
- per topic, the count of the topics file's cue words after that topic's exclusions are
  removed ("seguridad social" no longer counts as "seguridad").

One logistic regression a topic on the stacked features, Platt-calibrated on out-of-fold scores,
and a per-topic threshold chosen on out-of-fold calibrated probabilities.

Every block is linear in per-token quantities, so prediction never builds the character matrix:
each known token carries its precomputed contribution to every topic's score, and only tokens
never seen in training are broken into character n-grams (once, then cached). That keeps tagging
well above 20,000 statements a second.
"""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from itertools import repeat

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from pipeline.tagger.text import normalise


def _f1_best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold on p that maximises F1 for labels y (ties go to the higher threshold)."""
    best_t, best_f = 0.5, -1.0
    for t in np.arange(0.10, 0.91, 0.01):
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f >= best_f:
            best_t, best_f = float(t), f
    return round(best_t, 2)


# -- cue matching (compiled lazily, module-level: nothing compiled lives on the estimator) -----

def _trie_regex(phrases: tuple[str, ...]) -> str:
    """One regex for many phrases, factored as a prefix trie (much faster than a flat alternation).

    A phrase is normalised text; a trailing ``*`` matches any word ending; spaces match any run of
    spaces. Longer continuations are tried before a shorter phrase ends.
    """
    trie: dict = {}
    for ph in phrases:
        star = ph.endswith("*")
        body = normalise(ph.rstrip("*"))
        if not body:
            continue
        node = trie
        for ch in body:
            node = node.setdefault(ch, {})
        node["*" if star else ""] = True

    def emit(node: dict) -> str:
        alts = []
        for ch in sorted(k for k in node if k not in ("", "*")):
            alts.append((r"\s+" if ch == " " else re.escape(ch)) + emit(node[ch]))
        if "*" in node:
            alts.append(r"\w*\b")
        elif "" in node:
            alts.append(r"\b")
        if len(alts) == 1:
            return alts[0]
        return "(?:" + "|".join(alts) + ")"

    return r"\b" + emit(trie) if trie else r"(?!x)x"


@lru_cache(maxsize=256)
def _cue_regexes(cues: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern | None]:
    return re.compile(_trie_regex(cues)), (re.compile(_trie_regex(exclude)) if exclude else None)


def _find_cues(cues: tuple[str, ...], exclude: tuple[str, ...], norm_text: str) -> list[str]:
    cue_re, ex_re = _cue_regexes(cues, exclude)
    if ex_re is not None and ex_re.search(norm_text):
        norm_text = ex_re.sub(" ", norm_text)
    return [m.group() for m in cue_re.finditer(norm_text)]




@lru_cache(maxsize=64)
def _first_word_regexes(keys: tuple) -> list[re.Pattern]:
    """Per topic, a regex that fully matches a token able to start one of the topic's cues;
    then, per topic, the same for its exclusions."""
    out = []
    for cues in [c for c, _ in keys] + [e for _, e in keys]:
        firsts = []
        for c in cues:
            words = normalise(c.rstrip("*")).split()
            if not words:
                continue
            star = c.endswith("*") and len(words) == 1
            firsts.append(words[0] + ("*" if star else ""))
        out.append(re.compile(_trie_regex(tuple(dict.fromkeys(firsts)))[2:] if firsts else r"(?!x)x"))
    return out


def _start_flags(tokens: list[str], keys: tuple) -> np.ndarray:
    """(tokens, 2 * topics) bool: can the token start a cue / an exclusion of each topic."""
    firsts = _first_word_regexes(keys)
    out = np.zeros((len(tokens), len(firsts)), dtype=bool)
    for i, t in enumerate(tokens):
        parts = [t] + (t.split("-") if "-" in t else [])
        for j, f in enumerate(firsts):
            if any(f.fullmatch(p) for p in parts):
                out[i, j] = True
    return out


# -- per-model caches of tokens never seen in training (module-level, bounded) ------------------
_UNSEEN: dict[str, dict[str, tuple[np.ndarray, float]]] = {}
_UNSEEN_MAX = 200_000


def _char_grams(token: str, lo: int, hi: int) -> list[str]:
    w = " " + token + " "
    out = []
    for n in range(lo, hi + 1):
        out.extend(w[i:i + n] for i in range(len(w) - n + 1))
    return out


class TopicTagger(ClassifierMixin, BaseEstimator):
    """Multi-label topic tagger. ``topics`` is a list of dicts (name, cues, exclude).

    Fitted attributes: ``topic_names_``, ``thresholds_``, ``token_index_`` (token -> id),
    ``char_index_`` (char n-gram -> column), ``bigram_keys_``, per-block weights
    ``w_tok_word_``, ``w_bigram_``, ``w_tok_char_``, ``w_cue_``, ``intercept_``, token norms,
    and Platt parameters ``platt_a_`` / ``platt_b_``.
    """

    def __init__(self, *, topics: list[dict] | None = None, C: float = 10.0, cue_weight: float = 2.0,
                 char_weight: float = 1.0, char_ngram: tuple[int, int] = (2, 5), min_df: int = 2,
                 char_min_df: int = 2, class_weight: str | None = "balanced", cv: int = 5,
                 random_state: int = 0):
        self.topics = topics
        self.C = C
        self.cue_weight = cue_weight
        self.char_weight = char_weight
        self.char_ngram = char_ngram
        self.min_df = min_df
        self.char_min_df = char_min_df
        self.class_weight = class_weight
        self.cv = cv
        self.random_state = random_state

    # -- text -> tokens ---------------------------------------------------------------------
    def _topic_keys(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        return [(tuple(t["cues"]), tuple(t.get("exclude", ()))) for t in self.topics]

    def _cue_counts(self, norm: list[str], cand: np.ndarray | None = None) -> np.ndarray:
        """Cue matches per statement and topic. ``cand`` (statements, 2 * topics) says which
        statements hold a token able to start a cue / an exclusion of a topic; the regexes run
        only there."""
        keys = tuple(self._topic_keys())
        k = len(keys)
        if cand is None:
            toks = [s.split() for s in norm]
            vocab = list(dict.fromkeys(t for ts in toks for t in ts))
            flags = dict(zip(vocab, _start_flags(vocab, keys)))
            cand = np.zeros((len(norm), 2 * k), dtype=bool)
            for i, ts in enumerate(toks):
                for t in ts:
                    cand[i] |= flags[t]
        out = np.zeros((len(norm), k), dtype=np.float64)
        for j, (cues, exclude) in enumerate(keys):
            cue_re, ex_re = _cue_regexes(cues, exclude)
            has_ex = cand[:, k + j]
            for i in np.flatnonzero(cand[:, j]):
                text = norm[i]
                if ex_re is not None and has_ex[i]:
                    text = ex_re.sub(" ", text)
                out[i, j] = len(cue_re.findall(text))
        return out

    def _cue_block(self, counts: np.ndarray) -> np.ndarray:
        feats = np.empty((counts.shape[0], 2 * counts.shape[1]))
        feats[:, 0::2] = np.log1p(counts)
        feats[:, 1::2] = counts > 0
        return feats * self.cue_weight

    # -- fitting ----------------------------------------------------------------------------
    def _fit_vocab(self, toks: list[list[str]]) -> None:
        index: dict[str, int] = {}
        for ts in toks:
            for t in ts:
                if t not in index:
                    index[t] = len(index)
        self.token_index_ = index
        self.cue_start_ = _start_flags(list(index), tuple(self._topic_keys()))
        lo, hi = self.char_ngram
        # document frequency of char n-grams (a doc "has" a gram if any of its tokens has it)
        tok_grams = [set(_char_grams(t, lo, hi)) for t in index]
        df: dict[str, int] = {}
        for ts in toks:
            seen: set[str] = set()
            for t in set(ts):
                seen |= tok_grams[index[t]]
            for g in seen:
                df[g] = df.get(g, 0) + 1
        grams = sorted(g for g, c in df.items() if c >= self.char_min_df)
        self.char_index_ = {g: i for i, g in enumerate(grams)}
        n_docs = len(toks)
        self.char_idf_ = np.log((1 + n_docs) / (1 + np.array([df[g] for g in grams], dtype=np.float64))) + 1

    def _token_char_matrix(self, tokens: list[str]) -> sp.csr_matrix:
        """Binary char n-gram presence of each token, idf-weighted (rows: tokens)."""
        lo, hi = self.char_ngram
        cidx = self.char_index_
        indptr, indices = [0], []
        for t in tokens:
            cols = {cidx[g] for g in _char_grams(t, lo, hi) if g in cidx}
            indices.extend(sorted(cols))
            indptr.append(len(indices))
        ind = np.asarray(indices, dtype=np.int64)
        mat = sp.csr_matrix((self.char_idf_[ind], ind, np.asarray(indptr)),
                            shape=(len(tokens), len(cidx)))
        return mat

    def _doc_token_ids(self, toks: list[list[str]], index: dict[str, int], extra: dict[str, int]):
        """Flat token ids (unknown tokens get ids from ``extra``, after the known ones)."""
        n_known = len(index)
        lens = np.fromiter((len(ts) for ts in toks), dtype=np.int64, count=len(toks))
        flat = [t for ts in toks for t in ts]
        ids = np.fromiter(map(index.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        unknown = np.flatnonzero(ids < 0)
        for p in unknown:
            t = flat[p]
            k = extra.get(t)
            if k is None:
                k = extra[t] = n_known + len(extra)
            ids[p] = k
        return ids, lens

    @staticmethod
    def _presence(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
        key = _sorted_unique(rows * n_cols + cols)
        r, c = np.divmod(key, n_cols)
        return sp.csr_matrix((np.ones(len(key)), (r, c)), shape=(n_rows, n_cols))

    def _bigram_keys(self, ids: np.ndarray, lens: np.ndarray, n_tok: int):
        """Row and key of each within-statement bigram of two known tokens."""
        doc = np.repeat(np.arange(len(lens)), lens)
        ok = (doc[:-1] == doc[1:]) & (ids[:-1] < n_tok) & (ids[1:] < n_tok)
        return doc[:-1][ok], ids[:-1][ok] * n_tok + ids[1:][ok]

    def _design(self, texts: list[str]):
        """Training design matrix and the pieces prediction will need."""
        norm = [normalise(t) for t in texts]
        toks = [n.split() for n in norm]
        self._fit_vocab(toks)
        index = self.token_index_
        n_tok = len(index)
        ids, lens = self._doc_token_ids(toks, index, {})
        n = len(texts)
        doc = np.repeat(np.arange(n), lens)
        M = self._presence(doc, ids, n, n_tok)                        # docs x tokens, binary
        df_tok = np.asarray(M.sum(axis=0)).ravel()
        idf_tok = np.log((1 + n) / (1 + df_tok)) + 1
        keep = df_tok >= self.min_df
        self.word_idf_ = np.where(keep, idf_tok, 0.0)
        brow, bkey = self._bigram_keys(ids, lens, n_tok)
        ukeys, inv = np.unique(bkey, return_inverse=True)
        Bfull = self._presence(brow, inv, n, len(ukeys))
        df_b = np.asarray(Bfull.sum(axis=0)).ravel()
        bkeep = df_b >= self.min_df
        self.bigram_keys_ = ukeys[bkeep]
        self.bigram_idf_ = np.log((1 + n) / (1 + df_b[bkeep])) + 1
        B = Bfull[:, bkeep]
        W = sp.hstack([M @ sp.diags(self.word_idf_), B @ sp.diags(self.bigram_idf_)], format="csr")
        wnorm = np.sqrt(np.asarray(W.multiply(W).sum(axis=1)).ravel())
        W = sp.diags(1.0 / np.maximum(wnorm, 1e-12)) @ W
        tc = self._token_char_matrix(list(index))
        self.tok_char_sq_ = np.asarray(tc.multiply(tc).sum(axis=1)).ravel()
        Ch = M @ tc
        cnorm = np.sqrt(M @ self.tok_char_sq_)
        Ch = sp.diags(self.char_weight / np.maximum(cnorm, 1e-12)) @ Ch
        cue = self._cue_block(self._cue_counts(norm))
        X = sp.hstack([W, Ch, sp.csr_matrix(cue)], format="csr")
        return X, tc, n_tok, B.shape[1]

    def _new_lr(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)

    def fit(self, X: list[str], y: np.ndarray) -> TopicTagger:
        """X: texts; y: (n, n_topics) 0/1 matrix in the order of ``topics``."""
        y = np.asarray(y, dtype=int)
        self.topic_names_ = [t["name"] for t in self.topics]
        feats, tc, n_tok, n_big = self._design(list(X))
        k = len(self.topic_names_)
        coefs = np.zeros((feats.shape[1], k))
        intercept = np.zeros(k)
        pa, pb, thresholds = np.ones(k), np.zeros(k), np.full(k, 0.5)
        for j in range(k):
            yj = y[:, j]
            if 0 < yj.sum() < len(yj):
                m = self._new_lr().fit(feats, yj)
                coefs[:, j], intercept[j] = m.coef_[0], m.intercept_[0]
            else:
                intercept[j] = 20.0 if yj.sum() else -20.0
                continue
            if yj.sum() >= self.cv:
                oof = np.zeros(len(yj))
                folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
                for a, b in folds.split(feats, yj):
                    oof[b] = self._new_lr().fit(feats[a], yj[a]).decision_function(feats[b])
                platt = LogisticRegression(C=1e4).fit(oof[:, None], yj)
                pa[j], pb[j] = platt.coef_[0, 0], platt.intercept_[0]
                thresholds[j] = _f1_best_threshold(yj, 1 / (1 + np.exp(-(pa[j] * oof + pb[j]))))
        n_char = tc.shape[1]
        self.w_tok_word_ = coefs[:n_tok] * self.word_idf_[:, None]           # tokens x topics
        self.w_bigram_ = coefs[n_tok:n_tok + n_big] * self.bigram_idf_[:, None]
        self.w_char_ = coefs[n_tok + n_big:n_tok + n_big + n_char]           # char grams x topics
        self.w_tok_char_ = np.asarray(tc @ self.w_char_)                    # tokens x topics
        self.w_cue_ = coefs[n_tok + n_big + n_char:]
        self.intercept_ = intercept
        self.platt_a_, self.platt_b_ = pa, pb
        self.thresholds_ = thresholds
        self.cache_key_ = uuid.uuid4().hex
        self.classes_ = np.asarray(self.topic_names_)
        return self

    # -- prediction -------------------------------------------------------------------------
    def _unseen(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Char-gram score (tokens x topics) and squared norm of tokens unseen in training."""
        cache = _UNSEEN.setdefault(self.cache_key_, {})
        todo = [t for t in tokens if t not in cache]
        if todo:
            if len(cache) > _UNSEEN_MAX:
                cache.clear()
            tc = self._token_char_matrix(todo)
            sc = np.asarray(tc @ self.w_char_)
            sq = np.asarray(tc.multiply(tc).sum(axis=1)).ravel()
            for t, s, q in zip(todo, sc, sq):
                cache[t] = (s, float(q))
        k = len(self.topic_names_)
        scores = np.array([cache[t][0] for t in tokens]).reshape(len(tokens), k)
        sq = np.array([cache[t][1] for t in tokens], dtype=np.float64)
        return scores, sq

    def _decision(self, norm: list[str]) -> np.ndarray:
        n = len(norm)
        toks = [s.split() for s in norm]
        index = self.token_index_
        n_tok = len(index)
        extra: dict[str, int] = {}
        ids, lens = self._doc_token_ids(toks, index, extra)
        doc = np.repeat(np.arange(n), lens)
        # distinct (doc, token) pairs
        key = _sorted_unique(doc * (n_tok + len(extra)) + ids)
        d, t = np.divmod(key, n_tok + len(extra))
        known = t < n_tok
        tk, dk = t[known], d[known]
        # word unigrams
        wi = self.word_idf_[tk]
        score = np.zeros((n, len(self.topic_names_)))
        score_w = _rowsum(dk, self.w_tok_word_[tk], n)
        sq_w = np.bincount(dk, weights=wi * wi, minlength=n)
        # word bigrams
        brow, bkey = self._bigram_keys(ids, lens, n_tok)
        if len(bkey) and len(self.bigram_keys_):
            pos = np.searchsorted(self.bigram_keys_, bkey)
            pos[pos >= len(self.bigram_keys_)] = 0
            hit = self.bigram_keys_[pos] == bkey
            pair = _sorted_unique(brow[hit] * len(self.bigram_keys_) + pos[hit])
            br, bp = np.divmod(pair, len(self.bigram_keys_))
            score_w += _rowsum(br, self.w_bigram_[bp], n)
            sq_w += np.bincount(br, weights=self.bigram_idf_[bp] ** 2, minlength=n)
        score += score_w / np.maximum(np.sqrt(sq_w), 1e-12)[:, None]
        # char n-grams pooled over distinct tokens
        score_c = _rowsum(dk, self.w_tok_char_[tk], n)
        sq_c = np.bincount(dk, weights=self.tok_char_sq_[tk], minlength=n)
        if extra:
            names = list(extra)
            sc, sq = self._unseen(names)
            tu = t[~known] - n_tok
            du = d[~known]
            score_c += _rowsum(du, sc[tu], n)
            sq_c += np.bincount(du, weights=sq[tu], minlength=n)
        score += self.char_weight * score_c / np.maximum(np.sqrt(sq_c), 1e-12)[:, None]
        # cues
        k2 = self.cue_start_.shape[1]
        cand = np.zeros((n, k2), dtype=bool)
        for c in range(k2):
            cand[:, c] = np.bincount(dk, weights=self.cue_start_[tk, c], minlength=n) > 0
        if extra:
            uflags = _start_flags(names, tuple(self._topic_keys()))
            for c in range(k2):
                cand[:, c] |= np.bincount(du, weights=uflags[tu, c], minlength=n) > 0
        score += self._cue_block(self._cue_counts(norm, cand)) @ self.w_cue_
        return score + self.intercept_

    def decision_function(self, X: list[str]) -> np.ndarray:
        return self._decision([normalise(t) for t in X])

    def predict_proba(self, X: list[str]) -> np.ndarray:
        """Calibrated probability of each topic: shape (n, n_topics)."""
        s = self.decision_function(list(X))
        return 1.0 / (1.0 + np.exp(-(s * self.platt_a_ + self.platt_b_)))

    def predict(self, X: list[str]) -> np.ndarray:
        """0/1 matrix: a topic applies when its probability reaches its threshold."""
        return (self.predict_proba(X) >= self.thresholds_).astype(int)

    # -- explanations -----------------------------------------------------------------------
    def explain(self, text: str, topic: str, k: int = 6) -> list[str]:
        """The words and phrases of the text that pushed it towards the topic the most.

        Terms are given as they are written in the text (original case and accents) when
        they can be found there.
        """
        j = self.topic_names_.index(topic)
        norm = normalise(text)
        toks = norm.split()
        contrib: dict[str, float] = {}

        def add(term: str, v: float) -> None:
            contrib[term] = contrib.get(term, 0.0) + v

        index = self.token_index_
        distinct = list(dict.fromkeys(toks))
        known = [t for t in distinct if t in index]
        unseen = [t for t in distinct if t not in index]
        wi = np.array([self.word_idf_[index[t]] for t in known])
        sq_w = float(np.sum(wi ** 2))
        bigrams = []
        n_tok = len(index)
        seen_b = set()
        for a, b in zip(toks, toks[1:]):
            if a in index and b in index:
                key = index[a] * n_tok + index[b]
                p = int(np.searchsorted(self.bigram_keys_, key))
                if p < len(self.bigram_keys_) and self.bigram_keys_[p] == key and key not in seen_b:
                    seen_b.add(key)
                    bigrams.append((a + " " + b, p))
                    sq_w += float(self.bigram_idf_[p] ** 2)
        nw = max(np.sqrt(sq_w), 1e-12)
        for t in known:
            add(t, self.w_tok_word_[index[t], j] / nw)
        for term, p in bigrams:
            add(term, self.w_bigram_[p, j] / nw)
        # char n-grams: credit each token with its own pooled contribution
        sc = {t: self.w_tok_char_[index[t], j] for t in known}
        sq_c = float(sum(self.tok_char_sq_[index[t]] for t in known))
        if unseen:
            usc, usq = self._unseen(unseen)
            sc.update({t: usc[i, j] for i, t in enumerate(unseen)})
            sq_c += float(np.sum(usq))
        nc = max(np.sqrt(sq_c), 1e-12)
        for t, v in sc.items():
            add(t, self.char_weight * v / nc)
        # cue words: the cue block's contribution shared among the cues found
        cues, exclude = self._topic_keys()[j]
        found = _find_cues(cues, exclude, norm)
        if found:
            block = self._cue_block(np.array([[len(found)]], dtype=float))[0]
            v = float(block @ self.w_cue_[2 * j:2 * j + 2, j])
            for m in found:
                add(" ".join(m.split()), v / len(found))
        order = sorted((v, term) for term, v in contrib.items() if v > 0)[::-1]
        # Keep only terms that really pushed: short function words and faint pushes are noise.
        top = order[0][0] if order else 0.0
        order = [(v, term) for v, term in order if v >= 0.2 * top and len(term) >= 4]
        original = _original_spellings(text)
        out: list[str] = []
        for _, term in order:
            shown = " ".join(original.get(w, w) for w in term.split())
            if shown not in out and not any(term in o.lower() for o in out):
                out.append(shown)
            if len(out) >= k:
                break
        return out


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique by sorting (faster than hashing for these int64 keys)."""
    if not len(a):
        return a
    a = np.sort(a)
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _rowsum(rows: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    """Sum the rows of ``vals`` (m x k) into n groups given by ``rows``."""
    k = vals.shape[1] if vals.ndim == 2 else 1
    out = np.zeros((n, k))
    for c in range(k):
        out[:, c] = np.bincount(rows, weights=vals[:, c], minlength=n)
    return out


def _original_spellings(text: str) -> dict[str, str]:
    """normalised word -> the word as written in the text (first occurrence)."""
    out: dict[str, str] = {}
    for w in re.findall(r"[\w\-]+", text):
        for part in normalise(w).split():
            out.setdefault(part, w if normalise(w) == part else part)
    return out
