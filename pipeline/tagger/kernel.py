"""The tagger's compiled loops (``_kernel.c``), loaded with ctypes when they are built.

Optional: every function here has a NumPy counterpart in ``scoring`` that gives the same scores
bit for bit (tests/test_kernel.py), and tagging takes that path when the library is missing, was
built from another version of the source, or the ``kernel`` setting is 0. ``make setup`` builds it
(``python -m pipeline.tagger.kernel``) with the machine's C compiler; no compiler, no library, and
tagging takes 1.8 times the CPU (BENCHMARKS.md).

The library's name carries the hash of its source and flags, so a library left from an older
checkout is never loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline import settings

SOURCE = Path(__file__).with_name("_kernel.c")
# No fast-math and no fused multiply-add: the sums must round exactly as NumPy's do.
FLAGS = ("-O2", "-shared", "-fPIC", "-std=c99", "-ffp-contract=off", "-fno-fast-math")
VERSION = 7  # tk_version() of the interface this module calls
MAX_TOPICS = 64  # tk_sums adds a statement's topics up in arrays of this size (topic bits stop at 62)


def library_path() -> Path:
    """Where the library built from the current source lives (beside the source)."""
    h = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:12]
    return SOURCE.with_name(f"_kernel-{h}.so")


def build(cc: str | None = None) -> Path:
    """Compile the library (nothing when it is there already); its path. OSError or
    CalledProcessError when there is no compiler or it fails."""
    out = library_path()
    if out.exists():
        return out
    cc = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise OSError("no C compiler (cc or gcc) on PATH")
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        subprocess.run([cc, *FLAGS, "-o", str(tmp), str(SOURCE)], check=True, capture_output=True, text=True)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    for old in SOURCE.parent.glob("_kernel-*.so"):  # libraries of older sources
        if old != out:
            old.unlink(missing_ok=True)
    return out


def enabled() -> bool:
    """The ``kernel`` setting: 0 keeps tagging on the NumPy path."""
    return settings.get("kernel").strip() not in ("0", "no", "off", "false")


_P = ctypes.c_void_p
_I = ctypes.c_int64


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    path = library_path()
    if not path.exists():
        return None
    try:
        lib = ctypes.CDLL(str(path))
        if lib.tk_version() != VERSION:
            return None
    except (OSError, AttributeError):
        return None
    lib.tk_token_ids.restype = _I
    lib.tk_token_ids.argtypes = [_P, _I, _P, ctypes.c_uint64, ctypes.c_int, _I, _P, _P, _P, _I, _P, _P, _P, _P, _I]
    lib.tk_sums.restype = None
    lib.tk_sums.argtypes = [_I, _P, _P, _I, _I, _I, _P, _I, _P, _P, _P, _P, _P, _I, _P, ctypes.c_uint64,
                            ctypes.c_int, _P, _P, _P, _P, _P, _P, _P, _P]
    lib.tk_gram_scores.restype = None
    lib.tk_gram_scores.argtypes = [_P, _P, _P, _I, ctypes.c_int, ctypes.c_int, _P, ctypes.c_uint64, ctypes.c_int, _I,
                                   _P, _P, _P, _P, _I, _P, _P, _P]
    lib.tk_scores_json.restype = _I
    lib.tk_scores_json.argtypes = [_P, _I, _I, _P, _P, _P, _I]
    lib.tk_normalise.restype = _I
    lib.tk_normalise.argtypes = [_P, _I, _P, _P, _P, _I, _P, _I, _P]
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded library, or None (not built, stale, or turned off by the setting)."""
    return _library() if enabled() else None


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def table_parts(table) -> tuple[np.ndarray, int, int, int, list[np.ndarray]] | None:
    """A ``scoring._KeyTable``'s slots, mask, shift, key count and key columns as C reads them;
    None when its slots are not 32-bit (more than two thousand million keys)."""
    if table.slots.dtype != np.int32:
        return None
    return table.slots, int(table.mask), int(table.shift), int(table.n), table.cols


def token_ids(lib: ctypes.CDLL, data: bytes, count: int, parts, key_ids: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vocabulary id (-1 when not found or longer than 16 bytes), start and end of each token of
    ``data`` (``count`` normalised texts joined by newlines), and each text's number of tokens."""
    slots, mask, shift, n, cols = parts
    total = data.count(b" ") + count  # at most: a token more than each text's spaces
    ids = np.empty(total, dtype=np.int64)
    starts = np.empty(total, dtype=np.int64)
    ends = np.empty(total, dtype=np.int64)
    lens = np.empty(count, dtype=np.int64)
    got = lib.tk_token_ids(data, len(data), _ptr(slots), mask, shift, n, _ptr(cols[0]), _ptr(cols[1]),
                           _ptr(key_ids), total, _ptr(ids), _ptr(starts), _ptr(ends), _ptr(lens), count)
    return ids[:got], starts[:got], ends[:got], lens


def records(arrays: dict[str, np.ndarray], bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``tk_sums`` reads of each known token and each bigram, a record each (see its comment):
    built once per model and set of flag bits."""
    k = arrays["w_tok_word_"].shape[1]
    idf, bidf = arrays["word_idf_"], arrays["bigram_idf_"]
    tok = np.empty((len(idf), 2 * k + 2 + bits.shape[1]))
    tok[:, :k] = arrays["w_tok_word_"]
    tok[:, k:2 * k] = arrays["w_tok_char_"]
    tok[:, 2 * k] = idf * idf
    tok[:, 2 * k + 1] = arrays["tok_char_sq_"]
    tok.view(np.uint64)[:, 2 * k + 2:] = bits  # the flag words' bits, never read as numbers
    bigram = np.empty((len(bidf), k + 1))
    bigram[:, :k] = arrays["w_bigram_"]
    bigram[:, k] = bidf * bidf
    return tok, bigram


def sums(lib: ctypes.CDLL, lens: np.ndarray, ids: np.ndarray, n_tok: int, k: int, words: int,
         recs: tuple[np.ndarray, np.ndarray], bigram_keys: np.ndarray,
         unseen: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
         bigram_parts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """score_w, sq_w, score_c, sq_c and the OR of flag words of each statement (``tk_sums``)."""
    n = len(lens)
    tok, bigram = recs
    score_w, score_c = np.empty((n, k)), np.empty((n, k))
    sq_w, sq_c = np.empty(n), np.empty(n)
    held = np.empty((n, words), dtype=np.uint64)
    longest = int(lens.max()) + 1 if n else 1
    scratch, scratch2 = np.empty(longest, dtype=np.int64), np.empty(longest, dtype=np.int64)
    rows, u_scores, u_sq, u_bits = unseen if unseen is not None else (None, None, None, None)
    bslots, bmask, bshift = bigram_parts[:3] if bigram_parts is not None else (None, 0, 0)
    lib.tk_sums(n, _ptr(lens), _ptr(ids), n_tok, k, words, _ptr(tok), tok.shape[1],
                _ptr(rows), _ptr(u_scores), _ptr(u_sq), _ptr(u_bits),
                _ptr(bigram_keys), len(bigram_keys), _ptr(bslots), bmask, bshift, _ptr(bigram),
                _ptr(score_w), _ptr(sq_w), _ptr(score_c), _ptr(sq_c), _ptr(held), _ptr(scratch), _ptr(scratch2))
    return score_w, sq_w, score_c, sq_c, held


def normalise(lib: ctypes.CDLL, big: str, count: int, ascii_: bytes, spans: np.ndarray, blob: bytes
              ) -> tuple[list[str], list[int]] | None:
    """``count`` texts joined by newlines (none holding one) normalised by ``tk_normalise`` with the
    tables of ``text.char_table``: the texts, and the positions of those it left to Python (empty
    here). None when C cannot take the batch (a lone surrogate)."""
    try:
        data = big.encode("utf-8")
    except UnicodeEncodeError:
        return None
    cap = 3 * len(data) + 16  # no code point maps to more than three bytes a byte of it
    out = ctypes.create_string_buffer(cap)
    fallback = np.zeros(count, dtype=np.uint8)
    limit = 0x80 + len(spans) // 2
    got = lib.tk_normalise(data, len(data), ascii_, _ptr(spans), blob, limit, out, cap, _ptr(fallback))
    if got < 0:
        return None
    return out.raw[:got].decode("ascii").split("\n"), np.flatnonzero(fallback).tolist()


def gram_scores(lib: ctypes.CDLL, tokens: list[str], lo: int, hi: int, parts, gram_cols: np.ndarray,
                w_char: np.ndarray, idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ASCII token (at most 1,000 bytes; hi at most 7): the summed weights and squared norm of
    its character n-grams the model knows (``tk_gram_scores``)."""
    slots, mask, shift, n, cols = parts
    data = "".join(tokens).encode("ascii")
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    k = w_char.shape[1]
    scores, sq = np.empty((len(tokens), k)), np.empty(len(tokens))
    longest = int(lengths.max()) if len(tokens) else 0
    scratch = np.empty((hi - lo + 1) * (longest + 2) + 1, dtype=np.int64)
    lib.tk_gram_scores(data, _ptr(starts), _ptr(ends), len(tokens), lo, hi, _ptr(slots), mask, shift, n,
                       _ptr(cols[0]), _ptr(gram_cols), _ptr(w_char), _ptr(idf), k, _ptr(scores), _ptr(sq),
                       _ptr(scratch))
    return scores, sq


def scores_json(lib: ctypes.CDLL, scores: np.ndarray, names: tuple[str, ...]) -> list[str] | None:
    """Each row of ``scores`` (rounded to 4 decimals, in [0, 1]) as ``json.dumps`` of {name: score}
    with separators (",", ":") writes it; None when a score is not such a number (the caller then
    formats them in Python)."""
    scores = np.ascontiguousarray(scores, dtype=np.float64)
    n, k = scores.shape
    if not n:
        return []
    parts = [("{" if j == 0 else ",").encode() + json.dumps(name).encode() + b":" for j, name in enumerate(names)]
    offsets = np.cumsum([0] + [len(p) for p in parts], dtype=np.int64)
    cap = n * (int(offsets[-1]) + 8 * k + 2)
    out = ctypes.create_string_buffer(cap)
    got = lib.tk_scores_json(_ptr(scores), n, k, b"".join(parts), _ptr(offsets), out, cap)
    if got < 0:
        return None
    return out.raw[:got].decode("ascii").split("\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.tagger.kernel``: build the library; exit 0 with a note when the machine
    has no compiler (tagging then takes the NumPy path)."""
    try:
        path = build()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"note: the tagger's C loops were not built ({detail.strip()}); tagging takes the NumPy path, "
              "with the same results, in 1.8 times the CPU", file=sys.stderr)
        return 0
    print(f"the tagger's C loops: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
