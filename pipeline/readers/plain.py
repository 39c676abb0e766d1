"""Plain dated transcripts like the seed: first line a date, then one paragraph a line."""

from __future__ import annotations

import re

from pipeline.errors import InputError
from pipeline.readers.common import check_date, clean_line, not_a_date, parse_date
from pipeline.records import Turn

FORMAT = "plain"

# Trailing link lines added by the page the excerpt was copied from.
_TRAILER = re.compile(r"^(Related|Relacionad[oa]s?|Read more|Lee también|Ver también)\s*:", re.I)


def sniff(text: str) -> bool:
    """True when the first non-empty line is a date."""
    first = next((x for x in text.split("\n") if x.strip()), "")
    return len(first) <= 80 and parse_date(first) is not None


def read(text: str, path: str, lang: str | None = None, source: str | None = None) -> dict:
    """Parse the text; the language is guessed from the words unless given."""
    lines = [clean_line(x) for x in text.split("\n")]
    lines = [x for x in lines if x]
    if not lines:
        raise InputError(path, "empty file: nothing to read")
    wrong = not_a_date(lines[0], path)
    if wrong:
        raise wrong
    date = check_date(parse_date(lines[0]) if len(lines[0]) <= 80 else None, path,
                      "the first line of a plain transcript must be a date, e.g. 'MONDAY, JANUARY 12, 2026'")
    paras = lines[1:]
    while paras and _TRAILER.match(paras[-1]):
        paras.pop()
    if not paras:
        raise InputError(path, "a date line but no paragraphs after it")
    body = " ".join(paras)
    return {
        "title": "", "date": date, "turns": [Turn("", tuple(paras))],
        "lang": lang or guess_lang(body), "source": source or "", "url": "",
    }


_ES_WORDS = re.compile(r"\b(que|los|las|del|para|por|una|con|está|también|nosotros)\b", re.I)
_EN_WORDS = re.compile(r"\b(the|and|that|with|for|this|have|are|was|we)\b", re.I)


def guess_lang(text: str) -> str:
    """'es' or 'en', by counting common function words; enough for these two languages."""
    sample = text[:5000]
    return "es" if len(_ES_WORDS.findall(sample)) > len(_EN_WORDS.findall(sample)) else "en"
