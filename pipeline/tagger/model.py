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

Prediction lives in ``scoring.Scorer`` (numpy only), which this estimator shares with the
compiled form the pipeline loads quickly.
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from pipeline.tagger.scoring import Scorer, _char_grams, _gram_columns, _sorted_unique, _start_flags
from pipeline.tagger.text import normalise_many
from pipeline.workers import joblib_options


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


def _lr(C: float, class_weight: str | None) -> LogisticRegression:
    return LogisticRegression(C=C, class_weight=class_weight, max_iter=3000)


def _fit_topic(feats: sp.csr_matrix, yj: np.ndarray, *, C: float, class_weight: str | None, cv: int,
               random_state: int) -> tuple[np.ndarray, float, float, float, float]:
    """One topic: weights and intercept, Platt parameters fitted on out-of-fold decision values,
    and the threshold that maximises F1 on those calibrated out-of-fold probabilities."""
    if not 0 < yj.sum() < len(yj):                      # a topic always or never present
        return np.zeros(feats.shape[1]), (20.0 if yj.sum() else -20.0), 1.0, 0.0, 0.5
    # One BLAS thread, as in a joblib worker: in this process BLAS would use every core and add up
    # in another order, and the last bits that changes can move a threshold (--jobs 1 gave security
    # 0.38 where --jobs 2 gave 0.34). The same labels must give the same model whatever --jobs is.
    with threadpool_limits(limits=1):
        return _fit_topic_1(feats, yj, C=C, class_weight=class_weight, cv=cv, random_state=random_state)


def _fit_topic_1(feats: sp.csr_matrix, yj: np.ndarray, *, C: float, class_weight: str | None, cv: int,
                 random_state: int) -> tuple[np.ndarray, float, float, float, float]:
    m = _lr(C, class_weight).fit(feats, yj)
    coef, intercept = m.coef_[0], float(m.intercept_[0])
    if yj.sum() < cv:
        return coef, intercept, 1.0, 0.0, 0.5
    oof = np.zeros(len(yj))
    for a, b in StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state).split(feats, yj):
        oof[b] = _lr(C, class_weight).fit(feats[a], yj[a]).decision_function(feats[b])
    platt = LogisticRegression(C=1e4).fit(oof[:, None], yj)
    pa, pb = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    return coef, intercept, pa, pb, _f1_best_threshold(yj, 1 / (1 + np.exp(-(pa * oof + pb))))


class TopicTagger(Scorer, ClassifierMixin, BaseEstimator):
    """Multi-label topic tagger. ``topics`` is a list of dicts (name, cues, exclude); ``n_jobs``
    fits that many topics at once in separate processes (``None`` = one at a time; the fitted
    model is the same either way, up to floating-point rounding).

    Fitted attributes: ``topic_names_``, ``thresholds_``, ``token_index_`` (token -> id),
    ``char_index_`` (char n-gram -> column), ``bigram_keys_``, per-block weights
    ``w_tok_word_``, ``w_bigram_``, ``w_tok_char_``, ``w_cue_``, ``intercept_``, token norms,
    and Platt parameters ``platt_a_`` / ``platt_b_``.
    """

    def __init__(self, *, topics: list[dict] | None = None, C: float = 30.0, cue_weight: float = 2.0,
                 char_weight: float = 1.0, char_ngram: tuple[int, int] = (2, 5), min_df: int = 2,
                 char_min_df: int = 2, class_weight: str | None = "balanced", cv: int = 5,
                 random_state: int = 0, n_jobs: int | None = None):
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
        self.n_jobs = n_jobs

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
        r, c = _gram_columns(tokens, *self.char_ngram, self.char_index_)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=len(tokens)))])
        return sp.csr_matrix((self.char_idf_[c], c, indptr), shape=(len(tokens), len(self.char_index_)))

    @staticmethod
    def _presence(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
        key = _sorted_unique(rows * n_cols + cols)
        r, c = np.divmod(key, n_cols)
        return sp.csr_matrix((np.ones(len(key)), (r, c)), shape=(n_rows, n_cols))

    def _design(self, texts: list[str]):
        """Training design matrix and the pieces prediction will need."""
        norm = normalise_many(texts)
        toks = [n.split() for n in norm]
        self._fit_vocab(toks)
        index = self.token_index_
        n_tok = len(index)
        ids, lens = self._doc_token_ids(norm, index, {})
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

    def fit(self, X: list[str], y: np.ndarray) -> TopicTagger:
        """X: texts; y: (n, n_topics) 0/1 matrix in the order of ``topics``."""
        y = np.asarray(y, dtype=int)
        self.topic_names_ = [t["name"] for t in self.topics]
        feats, tc, n_tok, n_big = self._design(list(X))
        # Topics are independent problems: with n_jobs they are fitted in parallel processes, which
        # end with this one however it ends (pipeline.workers).
        fitted = Parallel(n_jobs=self.n_jobs, **joblib_options())(
            delayed(_fit_topic)(feats, y[:, j], C=self.C, class_weight=self.class_weight, cv=self.cv,
                                random_state=self.random_state)
            for j in range(len(self.topic_names_)))
        coefs = np.column_stack([f[0] for f in fitted])
        intercept, pa, pb, thresholds = (np.array([f[i] for f in fitted]) for i in range(1, 5))
        n_char = tc.shape[1]
        self.w_tok_word_ = coefs[:n_tok] * self.word_idf_[:, None]           # tokens x topics
        self.w_bigram_ = coefs[n_tok:n_tok + n_big] * self.bigram_idf_[:, None]
        self.w_char_ = coefs[n_tok + n_big:n_tok + n_big + n_char]           # char grams x topics
        self.w_tok_char_ = np.asarray(tc @ self.w_char_)                    # tokens x topics
        self.w_cue_ = coefs[n_tok + n_big + n_char:]
        self.intercept_ = intercept
        self.platt_a_, self.platt_b_ = pa, pb
        self.thresholds_ = thresholds
        # From the fitted weights, not random: the same fit must save to the same bytes (model version).
        self.cache_key_ = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (
            coefs, intercept, thresholds, self.w_tok_char_)) + str(len(self.token_index_)).encode()).hexdigest()[:32]
        self.classes_ = np.asarray(self.topic_names_)
        return self

    # -- prediction -------------------------------------------------------------------------
