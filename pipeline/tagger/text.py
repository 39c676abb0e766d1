"""Text normalisation shared by training and tagging, so both see the same tokens."""

from __future__ import annotations

import re
import unicodedata

_URL = re.compile(r"\(?https?://\S+\)?|www\.\S+")
_TAG = re.compile(r"</?[a-zA-Z][^>]{0,200}>")
# Markdown marks and every other non-word character but the hyphen; "_" counts as a word
# character to \w, so it is named apart.
_NON_WORD = re.compile(r"(?:[^\w\s\-]|_)+")


class _StripAccents(dict):
    """str.translate table: a character -> its NFKD decomposition without combining marks.

    Filled lazily, one entry a distinct character, so a text is accent-stripped in one C-level
    pass (equivalent to NFKD of the whole text followed by dropping combining characters).
    """

    def __missing__(self, ch: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(ch))
        out = "".join(c for c in decomposed if not unicodedata.combining(c))
        self[ch] = out
        return out


_ACCENTS = _StripAccents()
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _strip_run(m: re.Match) -> str:
    return m.group().translate(_ACCENTS)


def normalise(text: str) -> str:
    """Lower-case, strip accents, links, HTML tags and markdown marks; keep words and hyphens. The
    tagger's view of a text (``pipeline.readers.common.fold`` only lower-cases and strips accents)."""
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    text = text.lower()
    if not text.isascii():
        text = _NON_ASCII.sub(_strip_run, text)
    text = _NON_WORD.sub(" ", text)
    return " ".join(text.split())
