"""Text normalisation shared by training and tagging, so both see the same tokens."""

from __future__ import annotations

import re
import unicodedata

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
