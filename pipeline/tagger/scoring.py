"""Scoring with a fitted tagger: numpy only, shared by the estimator and its compiled form.

Everything prediction needs is plain arrays (weights, idf, sorted bigram keys) plus two string
tables (the training tokens and character n-grams). ``TopicTagger`` (in ``model``, which needs
scikit-learn to fit) and ``CompiledTagger`` (arrays loaded from an ``.npz`` file, no
scikit-learn import) both score through ``Scorer``, so they cannot disagree.

Every block is linear in per-token quantities, so prediction never builds the character matrix:
each known token carries its precomputed contribution to every topic's score, and only tokens
never seen in training are broken into character n-grams (once, then cached).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import re
from functools import lru_cache
from itertools import repeat
from pathlib import Path

import numpy as np

from pipeline.tagger import kernel
from pipeline.tagger.text import normalise, normalise_many
from pipeline.tagger.topics import cue_regexes, find_cues, trie_regex


@lru_cache(maxsize=64)
def _first_word_regexes(keys: tuple) -> list[re.Pattern]:
    """Per topic, a regex whose matches in a text of one token a line are the tokens able to
    start one of the topic's cues; then, per topic, the same for its exclusions."""
    out = []
    for cues in [c for c, _ in keys] + [e for _, e in keys]:
        firsts = []
        for c in cues:
            words = normalise(c.rstrip("*")).split()
            if not words:
                continue
            star = c.endswith("*") and len(words) == 1
            firsts.append(words[0] + ("*" if star else ""))
        body = trie_regex(tuple(dict.fromkeys(firsts)))[2:] if firsts else r"(?!x)x"
        # A first word holds no space, so a match never runs past its line: a match of a whole
        # line is a full match of that token.
        out.append(re.compile(f"(?m)^(?:{body})$"))
    return out


@lru_cache(maxsize=64)
def _separator_led(cues: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern | None] | None:
    """The cue and exclusion regexes of a topic (``cue_regexes``) for a normalised text with a space
    put before it, each match starting at the space or hyphen before the phrase instead of at
    ``\\b``; the exclusion's separator is captured, for ``sub(r"\\1 ", ...)``. None when a phrase
    begins or ends with a hyphen (there the two differ).

    In a normalised text (words of letters and digits, single spaces, hyphens) a ``\\b`` before a
    word character is exactly a space or hyphen before it, or the start; a match never ends on a
    separator, so taking the one before each match leaves the next its own. The same matches, in
    the same order: but a regular expression that begins with a character class is searched for
    with a fast scan for that class, where ``\\b`` is tried at every character (cue counting
    35-40 % faster).
    """
    phrases = [normalise(p.rstrip("*")) for p in cues + exclude]
    if any(p[:1] == "-" or p[-1:] == "-" for p in phrases):
        return None
    cue_body, ex_body = trie_regex(cues), trie_regex(exclude) if exclude else None
    if not cue_body.startswith(r"\b") or (ex_body is not None and not ex_body.startswith(r"\b")):
        return None  # no phrase at all: nothing to gain
    return (re.compile("[ -]" + cue_body[2:]),
            re.compile("([ -])" + ex_body[2:]) if ex_body is not None else None)


def _start_flags(tokens: list[str], keys: tuple) -> np.ndarray:
    """(tokens, 2 * topics) bool: can the token (or a part of it between hyphens) start a cue /
    an exclusion of each topic. One search per regex over all the tokens, a token a line."""
    firsts = _first_word_regexes(keys)
    out = np.zeros((len(tokens), len(firsts)), dtype=bool)
    if not tokens:
        return out
    parts = {i: t.split("-") for i, t in enumerate(tokens) if "-" in t}
    lines = "\n".join(itertools.chain(tokens, *parts.values()))
    for j, f in enumerate(firsts):
        hits = set(f.findall(lines))
        if not hits:
            continue
        out[:, j] = np.fromiter((t in hits for t in tokens), dtype=bool, count=len(tokens))
        for i, ps in parts.items():
            if not out[i, j] and any(p in hits for p in ps):
                out[i, j] = True
    return out


def _holds_words(tokens: list[str], words: list[tuple[str, ...]]) -> np.ndarray:
    """(tokens, len(words)) bool: does the token hold one of ``words[j]`` anywhere in it.

    One text of a token a line and ``str.find`` per word (a fast substring search in C); a word
    never holds a newline, so each hit lies inside one token.
    """
    out = np.zeros((len(tokens), len(words)), dtype=bool)
    if not tokens:
        return out
    text = "\n".join(tokens)
    starts = np.cumsum([0] + [len(t) + 1 for t in tokens[:-1]])
    for j, ws in enumerate(words):
        hits = []
        for w in ws:
            i = text.find(w)
            while i >= 0:
                hits.append(i)
                i = text.find(w, i + 1)
        if hits:
            out[np.searchsorted(starts, hits, side="right") - 1, j] = True
    return out


def _pack(flags: np.ndarray) -> np.ndarray:
    """(m, c) bool -> (m, ceil(c / 64)) uint64, flag i in bit i % 64 of word i // 64."""
    m, c = flags.shape
    out = np.zeros((m, max(-(-c // 64), 1)), dtype=np.uint64)
    for i in range(c):
        out[:, i // 64] |= flags[:, i].astype(np.uint64) << np.uint64(i % 64)
    return out


def _unpack(bits: np.ndarray, c: int) -> np.ndarray:
    """The inverse of ``_pack``: (m, words) uint64 -> (m, c) bool."""
    out = np.empty((bits.shape[0], c), dtype=bool)
    for i in range(c):
        out[:, i] = (bits[:, i // 64] >> np.uint64(i % 64)) & np.uint64(1)
    return out


def _or_rows(rows: np.ndarray, bits: np.ndarray, n: int) -> np.ndarray:
    """Bitwise OR of the rows of ``bits`` into n groups; ``rows`` (the group of each) ascending."""
    out = np.zeros((n, bits.shape[1]), dtype=np.uint64)
    if len(rows):
        first = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
        out[rows[first]] = np.bitwise_or.reduceat(bits, first, axis=0)
    return out


# -- per-model caches of tokens never seen in training (module-level, bounded) ------------------
class _UnseenCache:
    """Tokens never seen in training, each a row of growing arrays: its char-gram score per
    topic, its squared norm and its flag bits (see ``Scorer._flag_bits``). Rows, not a tuple of
    small arrays per token: a batch gathers its tokens' rows in one indexing per array."""

    def __init__(self, k: int, words: int) -> None:
        self.row: dict[str, int] = {}
        self.scores = np.zeros((1024, k))
        self.sq = np.zeros(1024)
        self.bits = np.zeros((1024, words), dtype=np.uint64)

    def add(self, tokens: list[str], scores: np.ndarray, sq: np.ndarray, bits: np.ndarray) -> None:
        n, m = len(self.row), len(tokens)
        if n + m > len(self.sq):
            size = max(2 * len(self.sq), n + m)
            self.scores = np.resize(self.scores, (size, self.scores.shape[1]))
            self.sq = np.resize(self.sq, size)
            self.bits = np.resize(self.bits, (size, self.bits.shape[1]))
        self.scores[n:n + m] = scores
        self.sq[n:n + m] = sq
        self.bits[n:n + m] = bits
        self.row.update(zip(tokens, range(n, n + m)))


_UNSEEN: dict[str, _UnseenCache] = {}
_UNSEEN_MAX = 200_000


def _char_grams(token: str, lo: int, hi: int) -> list[str]:
    w = " " + token + " "
    out = []
    for n in range(lo, hi + 1):
        out.extend(w[i:i + n] for i in range(len(w) - n + 1))
    return out


def _gram_columns(tokens: list[str], lo: int, hi: int, index: dict[str, int],
                  table: tuple[_KeyTable, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row (the token's position) and column of each distinct character n-gram of each token that
    ``index`` knows, columns ascending within a row: what training's token x n-gram matrix and the
    scores of unseen tokens are both built from. ``table`` (``Scorer._gram_table``) is ``index``'s
    ASCII grams as a hash table of their bytes."""
    if not tokens:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    width = max(len(index), 1)
    parts = []
    rest = tokens
    rest_rows: np.ndarray | None = None
    if table is not None and hi <= 7:
        ascii_ = np.fromiter(map(str.isascii, tokens), dtype=bool, count=len(tokens))
        fast = np.flatnonzero(ascii_)
        if len(fast):
            parts.append(_ascii_gram_keys([tokens[i] for i in fast.tolist()], fast, lo, hi, table, width))
            rest_rows = np.flatnonzero(~ascii_)
            rest = [tokens[i] for i in rest_rows.tolist()]
    if rest:
        # All the grams of all the tokens in one list and one lookup; numpy then keeps the distinct
        # (row, column) pairs in order. A set and a sort per token cost several times more.
        padded = [" " + t + " " for t in rest]
        grams = [w[i:i + n] for w in padded for n in range(lo, hi + 1) for i in range(len(w) - n + 1)]
        per_token = [sum(max(len(w) - n + 1, 0) for n in range(lo, hi + 1)) for w in padded]
        cols = np.fromiter(map(index.get, grams, repeat(-1)), dtype=np.int64, count=len(grams))
        rows = np.repeat(np.arange(len(rest), dtype=np.int64), per_token)
        if rest_rows is not None:
            rows = rest_rows[rows]
        known = cols >= 0
        parts.append(rows[known] * width + cols[known])
    key = _sorted_unique(np.concatenate(parts))
    r, c = np.divmod(key, width)
    return r, c


def _pack_grams(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The grams of ``data`` at ``starts`` (each at most 7 bytes long) as integers: their bytes,
    little-endian, and their length in the top byte (one integer per gram, never two alike)."""
    buf = data + bytes(8)
    words = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    return (words[starts] & _BYTES[lengths]) | (lengths.astype(np.uint64) << np.uint64(56))


def _ascii_gram_keys(tokens: list[str], rows: np.ndarray, lo: int, hi: int, table: tuple[_KeyTable, np.ndarray],
                     width: int) -> np.ndarray:
    """``row * width + column`` of every known gram of every gram position of ASCII tokens (row:
    ``rows`` of each token), found in numpy: the grams were a Python string each."""
    keys, cols = table
    padded = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens)) + 2
    data = (" " + "  ".join(tokens) + " ").encode("ascii")
    start = np.cumsum(padded) - padded
    out = []
    for n in range(lo, hi + 1):
        count = np.maximum(padded - n + 1, 0)
        total = int(count.sum())
        if not total:
            continue
        r = np.repeat(np.arange(len(tokens)), count)
        pos = start[r] + np.arange(total) - (np.cumsum(count) - count)[r]
        at = keys.find(_pack_grams(data, pos, np.full(total, n)))
        hit = at >= 0
        out.append(rows[r[hit]] * width + cols[at[hit]])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


# -- per-model lookup structures built on first use (module-level, like the caches above) ------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of key * 2^64/phi


class _KeyTable:
    """Where each of many keys sits in the array of distinct keys the table was built from (or
    -1), by hashing. A key is a row of one or more 64-bit integer columns.

    For sorted keys this is exactly ``np.searchsorted``'s index of every key present, in a few
    gathers over a table that stays in cache instead of a binary search of about 17 random reads
    per key (the bigram search was an eighth of tagging). Open addressing with linear probing: a
    slot holds the index of a key, ``len(keys)`` when empty; a hit compares every column, so a
    key is found only if it is one of the keys.
    """

    def __init__(self, *columns: np.ndarray) -> None:
        cols = [np.ascontiguousarray(c).view(np.uint64) for c in columns]
        n = len(cols[0])
        if n > 1:
            order = np.lexsort(cols[::-1])
            same = np.ones(n - 1, dtype=bool)
            for c in cols:
                same &= c[order][1:] == c[order][:-1]
            if same.any():
                raise ValueError("keys must be distinct")
        bits = max(int(4 * n).bit_length(), 4)  # a quarter full at most: short probes
        self.shift = np.uint64(64 - bits)
        self.mask = (1 << bits) - 1
        self.n = n
        # One row more, never a hit (its index is the empty slot's): gathers need no bounds test.
        self.cols = [np.append(c, np.uint64(0)) for c in cols]
        self.slots = np.full(1 << bits, n, dtype=np.int32 if n < 2**31 - 1 else np.int64)
        pending = np.arange(n)
        home = self._slot(cols)
        r = 0
        while len(pending):
            # Each round places, in every free slot wanted, the first key wanting it; the rest
            # try the next slot. A key's probe path therefore never crosses an empty slot.
            want = (home[pending] + r) & self.mask
            slots, first = np.unique(want, return_index=True)
            free = self.slots[slots] == n
            self.slots[slots[free]] = pending[first[free]]
            placed = np.zeros(len(pending), dtype=bool)
            placed[first[free]] = True
            pending = pending[~placed]
            r += 1

    def _slot(self, cols: list[np.ndarray]) -> np.ndarray:
        h = cols[0] * _GOLDEN
        for c in cols[1:]:
            h = (h ^ c) * _GOLDEN
        return (h >> self.shift).view(np.intp)

    def _hit(self, idx: np.ndarray, cols: list[np.ndarray], live: np.ndarray | None) -> np.ndarray:
        hit = idx != self.n
        for mine, theirs in zip(self.cols, cols):
            hit &= mine[idx] == (theirs if live is None else theirs[live])
        return hit

    def find(self, *columns: np.ndarray) -> np.ndarray:
        """Index of each key (a row of the columns) among the keys of the table; -1 if absent."""
        cols = [np.ascontiguousarray(c).view(np.uint64) for c in columns]
        slot = self._slot(cols)
        idx = self.slots[slot]
        hit = self._hit(idx, cols, None)
        out = np.where(hit, idx, np.int64(-1))
        live = np.flatnonzero(~hit & (idx != self.n))
        while len(live):
            slot_l = (slot[live] + 1) & self.mask
            slot[live] = slot_l
            idx = self.slots[slot_l]
            hit = self._hit(idx, cols, live)
            out[live[hit]] = idx[hit]
            live = live[~hit & (idx != self.n)]
        return out


# Byte masks keeping the first 0..8 bytes of a little-endian 64-bit word.
_BYTES = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [2**64 - 1], dtype=np.uint64)


def _token_words(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Start, end and the first and second 8 bytes (as integers, zero beyond the token) of each
    token of a text of tokens separated by spaces (a normalised text, UTF-8)."""
    buf = data + bytes(16)
    b = np.frombuffer(buf, dtype=np.uint8, count=len(data))
    edges = np.diff((b != 32).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    length = ends - starts
    # Every byte offset read as a little-endian 64-bit word (unaligned, no copy): a token of up
    # to 16 bytes is exactly these two words, its bytes past the end masked to zero.
    words = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    w1 = words[starts] & _BYTES[np.minimum(length, 8)]
    w2 = words[starts + 8] & _BYTES[np.clip(length - 8, 0, 8)]
    return starts, ends, w1, w2


# Per model (its cache key): the bigram table, and (under (key, name)) its cue words and flags.
_TABLES: dict = {}
_SCORED: dict[str, int] = {}  # statements scored per model in this process
# The hash tables cost about 0.05 s to build and the cue words of the vocabulary 0.06 s to find;
# a process builds them once it has scored this many statements of a model (they pay back after a
# few thousand and some twenty thousand statements), so a run of one new day does without them.
# Without them scoring takes the plain paths, to the same scores.
_TABLES_AFTER = 2_000
_WORDS_AFTER = 20_000


class Scorer:
    """Prediction and explanations from fitted arrays (see ``FITTED``); no scikit-learn needed."""

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
            has_ex = cand[:, k + j]
            rows = np.flatnonzero(cand[:, j])
            led = _separator_led(cues, exclude)
            cue_re, ex_re = led or cue_regexes(cues, exclude)
            # The separator-led regexes read the text with a space before it, and put back the
            # separator an exclusion's match took.
            lead, blank = (" ", r"\1 ") if led else ("", " ")
            counts = []
            for i in rows.tolist():
                text = lead + norm[i]
                if ex_re is not None and has_ex[i]:
                    text = ex_re.sub(blank, text)
                counts.append(len(cue_re.findall(text)))
            out[rows, j] = counts
        return out

    def _cue_block(self, counts: np.ndarray) -> np.ndarray:
        feats = np.empty((counts.shape[0], 2 * counts.shape[1]))
        feats[:, 0::2] = np.log1p(counts)
        feats[:, 1::2] = counts > 0
        return feats * self.cue_weight

    def _doc_token_ids(self, norm: list[str], index: dict[str, int], extra: dict[str, int],
                       table: tuple[_KeyTable, np.ndarray] | None = None, lib=None):
        """Flat token ids of normalised texts (unknown tokens get ids from ``extra``, after the
        known ones, in the order they first come) and each text's number of tokens. ``table``
        (``_token_table``) is ``index`` as a hash table of its tokens' bytes; with ``lib`` (the
        compiled loops) the tokens are split, counted and found in it by C."""
        parts = kernel.table_parts(table[0]) if lib is not None and table is not None else None
        try:
            data = ("\n" if parts is not None else " ").join(norm).encode("utf-8") if table is not None else b""
        except UnicodeEncodeError:  # a lone surrogate (normalise never leaves one)
            table = parts = None
        if parts is not None:
            ids, starts, ends, lens = kernel.token_ids(lib, data, len(norm), parts, table[1])
        else:
            # A normalised text is its tokens joined by single spaces: a count of spaces per text.
            lens = np.fromiter((s.count(" ") + 1 if s else 0 for s in norm), dtype=np.int64, count=len(norm))
        if table is None:
            flat = " ".join(norm).split()
            ids = np.fromiter(map(index.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
            todo = np.flatnonzero(ids < 0)
            tokens = [flat[p] for p in todo.tolist()]
        else:
            if parts is None:
                # Tokens of up to 16 bytes (nearly all) are found as two integers in a hash table, in
                # numpy: a dict lookup a token was a quarter of tagging. Longer tokens and those the
                # table lacks are decoded and looked up as strings.
                starts, ends, w1, w2 = _token_words(data)
                at = table[0].find(w1, w2)
                ids = np.where((at >= 0) & (ends - starts <= 16), table[1][at], -1)
            todo = np.flatnonzero(ids < 0)
            tokens = [data[a:b].decode("utf-8") for a, b in zip(starts[todo].tolist(), ends[todo].tolist())]
        if len(todo):
            n_known = len(index)
            found = []
            for t in tokens:
                k = index.get(t)
                if k is None:
                    k = extra.get(t)
                    if k is None:
                        k = extra[t] = n_known + len(extra)
                found.append(k)
            ids[todo] = found
        return ids, lens

    def _gram_table(self) -> tuple[_KeyTable, np.ndarray] | None:
        """The character n-grams of the model that are ASCII (nearly all) as a hash table of
        their bytes (``_pack_grams``), and the column of each key of the table."""
        if self.char_ngram[1] > 7:
            return None
        key = (self.cache_key_, "grams")
        table = _TABLES.get(key)
        if table is None:
            grams = [g for g in self.char_index_ if g.isascii()]
            lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
            codes = _pack_grams("".join(grams).encode("ascii"), np.cumsum(lengths) - lengths, lengths)
            cols = np.fromiter(map(self.char_index_.__getitem__, grams), dtype=np.int64, count=len(grams))
            table = _TABLES[key] = (_KeyTable(codes), cols)
        return table

    def _token_table(self) -> tuple[_KeyTable, np.ndarray] | None:
        """The vocabulary's tokens of up to 16 bytes as a hash table of their two words
        (``_token_words``), and the token id of each key of the table; built once per model."""
        key = (self.cache_key_, "tokens")
        table = _TABLES.get(key)
        if table is None:
            vocab = list(self.token_index_)
            starts, ends, w1, w2 = _token_words(" ".join(vocab).encode("utf-8"))
            short = ends - starts <= 16
            if len(starts) != len(vocab) or not short.any():  # not tokens of normalised text
                return None
            ids = np.fromiter(self.token_index_.values(), dtype=np.int64, count=len(vocab))
            table = _TABLES[key] = (_KeyTable(w1[short], w2[short]), ids[short])
        return table

    def _bigram_keys(self, ids: np.ndarray, lens: np.ndarray, n_tok: int):
        """Row and key of each within-statement bigram of two known tokens."""
        doc = np.repeat(np.arange(len(lens)), lens)
        ok = (doc[:-1] == doc[1:]) & (ids[:-1] < n_tok) & (ids[1:] < n_tok)
        return doc[:-1][ok], ids[:-1][ok] * n_tok + ids[1:][ok]

    def _unseen_rows(self, tokens: list[str], seen: int = 0) -> tuple[_UnseenCache, np.ndarray]:
        """The cache of tokens unseen in training, holding ``tokens``, and their rows in it.
        ``seen``: statements of the model scored so far in this process."""
        k = len(self.topic_names_)
        n_flags = 3 * k
        cache = _UNSEEN.get(self.cache_key_)
        if cache is None or len(cache.row) + len(tokens) > _UNSEEN_MAX:
            cache = _UNSEEN[self.cache_key_] = _UnseenCache(k, max(-(-n_flags // 64), 1))
        row = cache.row
        todo = [t for t in tokens if t not in row]
        if todo:
            # One pass of Python over the grams, then one numpy pass for all tokens: a cold run
            # meets about a hundred thousand unseen tokens, and per-token numpy calls dominated.
            table = self._gram_table() if seen >= _TABLES_AFTER else None
            lib = kernel.library() if table is not None else None
            sc, sq = (self._gram_scores_compiled(lib, todo, table) if lib is not None
                      else self._gram_scores(todo, table))
            flags = np.concatenate([_start_flags(todo, tuple(self._topic_keys())),
                                    _holds_words(todo, self._cue_words())], axis=1)
            cache.add(todo, sc, sq, _pack(flags))
        return cache, np.fromiter(map(row.__getitem__, tokens), dtype=np.int64, count=len(tokens))

    def _gram_scores(self, tokens: list[str], table) -> tuple[np.ndarray, np.ndarray]:
        """The character n-gram block of tokens: their summed weights (tokens x topics) and squared
        norms (NumPy; ``_gram_scores_compiled`` gives the same, bit for bit)."""
        r, c = _gram_columns(tokens, *self.char_ngram, self.char_index_, table)
        idf = self.char_idf_[c]
        weighted = self.w_char_[c] * idf[:, None]
        return _rowsum(r, weighted, len(tokens)), _binsum(r, weights=idf * idf, minlength=len(tokens))

    def _gram_scores_compiled(self, lib, tokens: list[str], table) -> tuple[np.ndarray, np.ndarray]:
        """``_gram_scores`` with the ASCII tokens' grams found and summed by C (``tk_gram_scores``);
        the others (and any over a thousand bytes) take the NumPy path."""
        parts = kernel.table_parts(table[0])
        lo, hi = self.char_ngram
        ok = np.fromiter((parts is not None and hi <= 7 and t.isascii() and len(t) <= 1000 for t in tokens),
                         dtype=bool, count=len(tokens))
        if not ok.any():
            return self._gram_scores(tokens, table)
        fast, rest = np.flatnonzero(ok), np.flatnonzero(~ok)
        arrays = _TABLES.get((self.cache_key_, "gram arrays"))
        if arrays is None:
            arrays = _TABLES[(self.cache_key_, "gram arrays")] = tuple(
                np.ascontiguousarray(a, dtype=np.float64) for a in (self.w_char_, self.char_idf_))
        sc, sq = kernel.gram_scores(lib, [tokens[i] for i in fast.tolist()], lo, hi, parts, table[1], *arrays)
        if not len(rest):
            return sc, sq
        rsc, rsq = self._gram_scores([tokens[i] for i in rest.tolist()], table)
        out_sc, out_sq = np.empty((len(tokens), sc.shape[1])), np.empty(len(tokens))
        out_sc[fast], out_sq[fast] = sc, sq
        out_sc[rest], out_sq[rest] = rsc, rsq
        return out_sc, out_sq

    def _unseen(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For tokens unseen in training: char-gram score (tokens x topics), squared norm, and
        whether each can start a cue / an exclusion of each topic (tokens x 2 topics)."""
        cache, rows = self._unseen_rows(tokens)
        k = len(self.topic_names_)
        return cache.scores[rows], cache.sq[rows], _unpack(cache.bits[rows], 2 * k)

    # -- flags of the vocabulary: cue starts, then the words of cues held ---------------------
    def _cue_words(self) -> list[tuple[str, ...]]:
        """Per topic, one word of each of its cues (the one rarest in training): a text holds a
        match of a cue only if one of its tokens holds that word, so a statement none of whose
        tokens holds one of a topic's words has no match of that topic's cues."""
        key = (self.cache_key_, "words")
        words = _TABLES.get(key)
        if words is None:
            idf, index = self.word_idf_, self.token_index_
            words = []
            for cues, _ in self._topic_keys():
                ws = set()
                for c in cues:
                    parts = normalise(c.rstrip("*")).split()
                    if parts:
                        # Words never seen in training (word stems before a *) count as rarest.
                        ws.add(max(parts, key=lambda w: (idf[index[w]] if w in index else np.inf, len(w), w)))
                words.append(tuple(sorted(ws)))
            words = _TABLES[key] = words
        return words

    def _flag_bits(self, seen: int) -> np.ndarray:
        """Per known token, packed (``_pack``): can it start a cue of each topic, an exclusion of
        each topic (``cue_start_``), and does it hold one of each topic's cue words
        (``_cue_words``).

        Until the cue words of the vocabulary are found (``_WORDS_AFTER``), every known token
        counts as holding them, which filters nothing and so changes nothing either.
        """
        key = self.cache_key_
        bits = _TABLES.get((key, "bits"))
        if bits is None or (seen >= _WORDS_AFTER and not _TABLES.get((key, "words held"))):
            k = len(self.topic_names_)
            if seen >= _WORDS_AFTER:
                held = _holds_words(list(self.token_index_), self._cue_words())
                _TABLES[(key, "words held")] = True
            else:
                held = np.ones((len(self.token_index_), k), dtype=bool)
            bits = _TABLES[(key, "bits")] = _pack(np.concatenate([self.cue_start_, held], axis=1))
        return bits

    def _decision(self, norm: list[str]) -> np.ndarray:
        n = len(norm)
        k = len(self.topic_names_)
        seen = _SCORED[self.cache_key_] = _SCORED.get(self.cache_key_, 0) + n
        lib = kernel.library() if k <= kernel.MAX_TOPICS else None
        if lib is not None:
            score_w, sq_w, score_c, sq_c, held = self._sums_compiled(lib, norm, seen)
        else:
            score_w, sq_w, score_c, sq_c, held = self._sums(norm, seen)
        score = np.zeros((n, k))
        score += score_w / np.maximum(np.sqrt(sq_w), 1e-12)[:, None]
        score += self.char_weight * score_c / np.maximum(np.sqrt(sq_c), 1e-12)[:, None]
        # cues: the regexes run only on statements with a token able to start a cue (or an
        # exclusion) of the topic and a token holding one of its cue words
        flags = _unpack(held, 3 * k)
        cand = flags[:, :2 * k]
        cand[:, :k] &= flags[:, 2 * k:]
        score += self._cue_block(self._cue_counts(norm, cand)) @ self.w_cue_
        return score + self.intercept_

    def _sums(self, norm: list[str], seen: int) -> tuple[np.ndarray, ...]:
        """Per statement, over its distinct tokens and known bigrams: the word block's weighted sum
        and squared norm, the character block's, and the OR of the tokens' flag bits (NumPy; the
        compiled ``_sums_compiled`` gives the same, bit for bit)."""
        n = len(norm)
        index = self.token_index_
        n_tok = len(index)
        extra: dict[str, int] = {}
        warm = seen >= _TABLES_AFTER
        ids, lens = self._doc_token_ids(norm, index, extra, self._token_table() if warm else None)
        doc = np.repeat(np.arange(n), lens)
        # distinct (doc, token) pairs
        key = _sorted_unique(doc * (n_tok + len(extra)) + ids)
        d, t = np.divmod(key, n_tok + len(extra))
        known = t < n_tok
        tk, dk = t[known], d[known]
        # word unigrams
        wi = self.word_idf_[tk]
        score_w = _rowsum(dk, self.w_tok_word_[tk], n)
        sq_w = _binsum(dk, weights=wi * wi, minlength=n)
        # word bigrams
        brow, bkey = self._bigram_keys(ids, lens, n_tok)
        if len(bkey) and len(self.bigram_keys_):
            if warm:
                pos = self._bigram_table().find(bkey)
                hit = pos >= 0
            else:
                pos = np.searchsorted(self.bigram_keys_, bkey)
                pos[pos >= len(self.bigram_keys_)] = 0
                hit = self.bigram_keys_[pos] == bkey
            pair = _sorted_unique(brow[hit] * len(self.bigram_keys_) + pos[hit])
            br, bp = np.divmod(pair, len(self.bigram_keys_))
            score_w += _rowsum(br, self.w_bigram_[bp], n)
            sq_w += _binsum(br, weights=self.bigram_idf_[bp] ** 2, minlength=n)
        # char n-grams pooled over distinct tokens
        score_c = _rowsum(dk, self.w_tok_char_[tk], n)
        sq_c = _binsum(dk, weights=self.tok_char_sq_[tk], minlength=n)
        bits = self._flag_bits(seen)
        held = _or_rows(dk, bits[tk], n)
        if extra:
            cache, rows = self._unseen_rows(list(extra), seen)
            ur = rows[t[~known] - n_tok]
            du = d[~known]
            score_c += _rowsum(du, cache.scores[ur], n)
            sq_c += _binsum(du, weights=cache.sq[ur], minlength=n)
            held |= _or_rows(du, cache.bits[ur], n)
        return score_w, sq_w, score_c, sq_c, held

    def _sums_compiled(self, lib, norm: list[str], seen: int) -> tuple[np.ndarray, ...]:
        """``_sums`` by the compiled loops (``kernel``): token ids, distinct tokens and bigrams of
        each statement and their sums in one pass of C, instead of a dozen NumPy passes with their
        sorts and temporary arrays (half of tagging's time)."""
        index = self.token_index_
        extra: dict[str, int] = {}
        warm = seen >= _TABLES_AFTER
        ids, lens = self._doc_token_ids(norm, index, extra, self._token_table() if warm else None, lib)
        bits = np.ascontiguousarray(self._flag_bits(seen))
        unseen = None
        if extra:
            cache, rows = self._unseen_rows(list(extra), seen)
            unseen = (rows, cache.scores, cache.sq, cache.bits)
        recs = _TABLES.get((self.cache_key_, "records"))
        if recs is None or recs[0] is not bits:
            names = ("word_idf_", "w_tok_word_", "w_tok_char_", "tok_char_sq_", "w_bigram_", "bigram_idf_")
            arrays = {name: np.ascontiguousarray(getattr(self, name), dtype=np.float64) for name in names}
            recs = _TABLES[(self.cache_key_, "records")] = (bits, kernel.records(arrays, bits),
                                                             np.ascontiguousarray(self.bigram_keys_, dtype=np.int64))
        bigrams = kernel.table_parts(self._bigram_table()) if warm and len(self.bigram_keys_) else None
        return kernel.sums(lib, lens, ids, len(index), len(self.topic_names_), bits.shape[1], recs[1], recs[2], unseen,
                           bigrams)

    def _bigram_table(self) -> _KeyTable:
        """The model's bigram keys as a hash table; built once per model."""
        table = _TABLES.get(self.cache_key_)
        if table is None:
            table = _TABLES[self.cache_key_] = _KeyTable(self.bigram_keys_)
        return table

    def decision_function(self, X: list[str]) -> np.ndarray:
        return self._decision(normalise_many(X))

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
            usc, usq, _ = self._unseen(unseen)
            sc.update({t: usc[i, j] for i, t in enumerate(unseen)})
            sq_c += float(np.sum(usq))
        nc = max(np.sqrt(sq_c), 1e-12)
        for t, v in sc.items():
            add(t, self.char_weight * v / nc)
        # cue words: the cue block's contribution shared among the cues found
        cues, exclude = self._topic_keys()[j]
        found = find_cues(cues, exclude, norm)
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


def _binsum(rows: np.ndarray, weights: np.ndarray, minlength: int) -> np.ndarray:
    """np.bincount of weights, always float: with no rows at all (a batch none of whose words
    was seen in training, or with no word) np.bincount returns integers, which then refuse to
    take float additions."""
    return np.bincount(rows, weights=weights, minlength=minlength).astype(np.float64, copy=False)


def _rowsum(rows: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    """Sum the rows of ``vals`` (m x k) into n groups given by ``rows``."""
    k = vals.shape[1] if vals.ndim == 2 else 1
    out = np.zeros((n, k))
    for c in range(k):
        out[:, c] = _binsum(rows, weights=vals[:, c], minlength=n)
    return out


def _original_spellings(text: str) -> dict[str, str]:
    """normalised word -> the word as written in the text (first occurrence)."""
    out: dict[str, str] = {}
    for w in re.findall(r"[\w\-]+", text):
        for part in normalise(w).split():
            out.setdefault(part, w if normalise(w) == part else part)
    return out


# -- the compiled form: fitted arrays in one .npz file, loaded without pickle -------------------

# Fitted arrays prediction reads; with the two string tables and PARAMS they are the whole model.
FITTED = ("cue_start_", "char_idf_", "word_idf_", "bigram_keys_", "bigram_idf_", "tok_char_sq_",
          "w_tok_word_", "w_bigram_", "w_char_", "w_tok_char_", "w_cue_", "intercept_", "platt_a_",
          "platt_b_", "thresholds_")
PARAMS = ("topics", "char_ngram", "cue_weight", "char_weight")


class CompiledTagger(Scorer):
    """A fitted tagger as plain arrays: predicts exactly like the ``TopicTagger`` it came from."""

    def __init__(self, arrays: dict[str, np.ndarray], params: dict, key: str) -> None:
        for name in FITTED:
            setattr(self, name, arrays[name])
        tokens, grams = _strings(arrays["tokens"]), _strings(arrays["char_grams"])
        self.token_index_ = dict(zip(tokens, range(len(tokens))))
        self.char_index_ = dict(zip(grams, range(len(grams))))
        self.topics = params["topics"]
        self.char_ngram = tuple(params["char_ngram"])
        self.cue_weight = float(params["cue_weight"])
        self.char_weight = float(params["char_weight"])
        self.topic_names_ = [t["name"] for t in self.topics]
        self.classes_ = np.asarray(self.topic_names_)
        self.cache_key_ = key


# Tokens and character n-grams never hold a newline (tokens come from str.split()), so a string
# table is stored as one UTF-8 text, a line per entry: a tenth of the size of a fixed-width
# string array (padded to the longest token), which keeps both loading and the digest cheap.
def _blob(strings: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def _strings(blob: np.ndarray) -> list[str]:
    return blob.tobytes().decode("utf-8").split("\n") if blob.size else []


def _digest(arrays: dict[str, np.ndarray], params: str, key: str) -> str:
    """sha256 of the model file's hash, every array (name, type, shape, bytes) and the params:
    a compiled file whose arrays were changed after it was written does not match it."""
    h = hashlib.sha256(key.encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    h.update(params.encode("utf-8"))
    return h.hexdigest()


def write_compiled(est: Scorer, path: Path, key: str) -> None:
    """Save the arrays of a fitted tagger (atomically; plain arrays, so loading needs no pickle).

    ``key`` is the sha256 of the model file: the compiled file is used only for that file, and
    only while its arrays still give the digest written with them.
    """
    arrays = {name: np.asarray(getattr(est, name)) for name in FITTED}
    arrays["tokens"] = _blob(sorted(est.token_index_, key=est.token_index_.get))
    arrays["char_grams"] = _blob(sorted(est.char_index_, key=est.char_index_.get))
    params = {p: getattr(est, p) for p in PARAMS}
    params["topics"] = [{"name": t["name"], "cues": list(t["cues"]), "exclude": list(t.get("exclude", ()))}
                        for t in est.topics]
    text = json.dumps({"key": key, **params})
    arrays["digest"] = np.array(_digest(arrays, text, key))
    arrays["params"] = np.array(text)
    # A name of its own per process: the workers of a first run all write it at once.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    tmp.replace(path)


def read_compiled(path: Path, key: str) -> CompiledTagger:
    """Load a compiled tagger; ValueError if it is not one made for the model file whose sha256 is
    ``key``, or if its arrays are not those it was written with (never unpickles)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    text = str(arrays.pop("params", ""))
    digest = str(arrays.pop("digest", ""))
    params = json.loads(text) if text else {}
    if params.pop("key", None) != key:
        raise ValueError(f"{path}: made for another model file")
    missing = [n for n in (*FITTED, "tokens", "char_grams") if n not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {', '.join(missing)}")
    if not hmac.compare_digest(digest, _digest(arrays, text, key)):
        raise ValueError(f"{path}: its arrays were changed after it was written")
    return CompiledTagger(arrays, params, key)
