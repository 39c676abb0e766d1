"""Text normalisation shared by training and tagging, so both see the same tokens."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

from pipeline.tagger import kernel

_URL = re.compile(r"\(?https?://\S+\)?|www\.\S+")
_TAG = re.compile(r"</?[a-zA-Z][^>]{0,200}>")
# Markdown marks and every other non-word character but the hyphen; "_" counts as a word
# character to \w, so it is named apart.
_NON_WORD = re.compile(r"(?:[^\w\s\-]|_)+")


class _Fold(dict):
    """str.translate table: a (lower-case) character -> what normalisation makes of it: its NFKD
    decomposition without combining marks, with every non-word character a space.

    Filled lazily, one entry a distinct character. The exact, general path; ``normalise`` takes
    a faster one for the texts it can (the result is the same, a test compares them).
    """

    def __missing__(self, ch: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(ch))
        out = _NON_WORD.sub(" ", "".join(c for c in decomposed if not unicodedata.combining(c)))
        self[ch] = out
        return out


_FOLD = _Fold()
# The combining marks of the block U+0300-U+036F (all but the grapheme joiner): what NFKD splits
# the accents of Latin letters into. A text whose decomposition holds no other non-ASCII character
# loses exactly these when encoded to ASCII with errors ignored.
_MARKS = "".join(chr(c) for c in range(0x300, 0x370) if unicodedata.combining(chr(c)))
_NOT_PLAIN = re.compile(f"[^\\x00-\\x7f{_MARKS}]")
# bytes.translate table: every ASCII non-word character but the hyphen -> a space.
_ASCII_WORDS = bytes(ord(" ") if _NON_WORD.fullmatch(chr(b)) else b for b in range(128)) + bytes(range(128, 256))


def _space_if_not_word(m: re.Match) -> str:
    ch = m.group()
    return " " if _FOLD[ord(ch)] == " " else ch


def normalise(text: str) -> str:
    """Lower-case, strip accents, links, HTML tags and markdown marks; keep words and hyphens. The
    tagger's view of a text (``pipeline.readers.common.fold`` only lower-cases and strips accents)."""
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    text = text.lower()
    # Byte-level translation of ASCII is several times faster than a regular expression or a
    # str.translate over every character: the tagger normalises every statement of every run.
    if text.isascii():
        ascii_text = text.encode("ascii")
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        if _NOT_PLAIN.search(decomposed):
            # Mostly punctuation ("¿", "—", curly quotes): a space each, then the fast path.
            decomposed = _NOT_PLAIN.sub(_space_if_not_word, decomposed)
            if _NOT_PLAIN.search(decomposed):  # letters of other scripts: the general path
                return " ".join(decomposed.translate(_FOLD).split())
        ascii_text = decomposed.encode("ascii", "ignore")
    return " ".join(ascii_text.translate(_ASCII_WORDS).decode("ascii").split())


# bytes.translate table for a whole batch: as _ASCII_WORDS, and every ASCII whitespace character
# (what str.split() splits on) a space but the newline that separates the batch's texts.
_BATCH_WORDS = bytes(ord(" ") if chr(b).isspace() and b != ord("\n") else c for b, c in enumerate(_ASCII_WORDS))
# The non-ASCII characters the corpus holds most (after decomposition), each a space to
# normalisation: replaced in a pass each before the general substitution, which calls Python for
# every character it replaces (99.9 % of them are these).
_COMMON_SPACES = "\u2019\u2014\u00bf\u2018\u201c\u201d\u2015\u00a1\u2013"
assert all(_FOLD[ord(c)] == " " for c in _COMMON_SPACES)


def _collapse(raw: bytes) -> bytes:
    """Texts separated by newlines, with every run of spaces made one space and the spaces at the
    ends of each text dropped: what " ".join(text.split()) does to each, for the whole batch.
    ``raw`` holds only words (bytes above the space), spaces and newlines."""
    b = np.frombuffer(raw, dtype=np.uint8)
    # Keep the first space of each run after a word (a newline or the start are below the space)...
    keep = b != 32
    keep[1:] |= b[:-1] > 32
    b = b[keep]
    # ...then drop that space where the run ended a text.
    drop = b == 32
    drop[:-1] &= b[1:] == 10
    return b[~drop].tobytes()


# Code points below this that normalise the same wherever they stand are handled by the compiled
# loops (Latin letters with their accents, general punctuation); a text with any other goes to Python.
_TABLE_LIMIT = 0x2200


@lru_cache(maxsize=1)
def char_table() -> tuple[bytes, np.ndarray, bytes]:
    """What ``normalise_many``'s fast path makes of each code point on its own, for the compiled
    loops (``kernel.normalise``): the ASCII bytes (lower-cased, word characters kept, the rest a
    space), then per code point 0x80.._TABLE_LIMIT-1 the span of its bytes in a blob (start -1:
    not handled: a character that takes the general path, or whose result depends on others).

    Derived from the fast path itself, a character at a time: lower-case, decompose, the common
    punctuation and the characters that fold to a space made spaces, combining marks dropped.
    Context cannot change these: lower-casing depends on context only for the Greek sigma and
    decomposition only reorders combining marks, and both take the general path or are dropped.
    """
    ascii_ = bytes(_BATCH_WORDS[ord(chr(b).lower())] if b != 10 else 10 for b in range(128))
    spans = np.full(2 * (_TABLE_LIMIT - 0x80), -1, dtype=np.int32)
    blob = bytearray()
    for c in range(0x80, _TABLE_LIMIT):
        if 0xD800 <= c < 0xE000:
            continue
        d = unicodedata.normalize("NFKD", chr(c).lower())
        for x in _COMMON_SPACES:
            d = d.replace(x, " ")
        if _NOT_PLAIN.search(d):
            d = _NOT_PLAIN.sub(_space_if_not_word, d)
            if _NOT_PLAIN.search(d):
                continue  # the general path
        mapped = d.encode("ascii", "ignore").translate(_BATCH_WORDS)
        if b"\n" in mapped:
            continue
        spans[2 * (c - 0x80)], spans[2 * (c - 0x80) + 1] = len(blob), len(blob) + len(mapped)
        blob += mapped
    return ascii_, spans, bytes(blob)


def normalise_many(texts: list[str]) -> list[str]:
    """``normalise`` of each text, computed for the whole batch at once: one lower-casing, one
    decomposition, one translation and one collapse of spaces over the texts joined by newlines,
    instead of a dozen calls and a string per word for every text (normalising was a fifth of
    tagging).

    The same result as ``normalise`` text by text: a newline is neither cased nor a combining
    mark, so lower-casing (final sigma) and NFKD (the order of combining marks) never look past
    it, and every later step works character by character. A batch where a text holds a newline
    is normalised text by text.
    """
    if not texts:
        return []
    big = "\n".join(texts)
    if big.count("\n") != len(texts) - 1:
        return [normalise(t) for t in texts]
    if "http" in big or "www." in big or "<" in big:
        # Links and tags are matched within a text (a tag's [^>] would run over a newline).
        texts = [_TAG.sub(" ", t) if "<" in t else t for t in
                 (_URL.sub(" ", t) if ("http" in t or "www." in t) else t for t in texts)]
        big = "\n".join(texts)
        if big.count("\n") != len(texts) - 1:
            return [normalise(t) for t in texts]
    lib = kernel.library()
    if lib is not None:
        done = kernel.normalise(lib, big, len(texts), *char_table())
        if done is not None:
            out, fallback = done
            for i in fallback:
                out[i] = normalise(texts[i])
            return out
    big = big.lower()
    if big.isascii():
        raw = big.encode("ascii")
    else:
        decomposed = unicodedata.normalize("NFKD", big)
        for c in _COMMON_SPACES:
            decomposed = decomposed.replace(c, " ")
        if _NOT_PLAIN.search(decomposed):
            decomposed = _NOT_PLAIN.sub(_space_if_not_word, decomposed)
            if _NOT_PLAIN.search(decomposed):  # letters of other scripts: normalise's general path
                return [" ".join(part.translate(_FOLD).split()) if _NOT_PLAIN.search(part) else
                        " ".join(part.encode("ascii", "ignore").translate(_ASCII_WORDS).decode("ascii").split())
                        for part in decomposed.split("\n")]
        raw = decomposed.encode("ascii", "ignore")
    return _collapse(raw.translate(_BATCH_WORDS)).decode("ascii").split("\n")
