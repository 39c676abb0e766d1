"""Plain dated transcripts like the seed: first line a date, then one paragraph a line."""

from __future__ import annotations

import re

from pipeline.errors import InputError
from pipeline.readers.common import (
    Parsed,
    ParsedDocument,
    Reader,
    check_date,
    clean_lines,
    guess_lang,
    not_a_date,
    parse_date,
)
from pipeline.stages import Turn

# Trailing link lines added by the page the excerpt was copied from.
_TRAILER = re.compile(r"^(Related|Relacionad[oa]s?|Read more|Lee también|Ver también)\s*:", re.I)


def sniff(text: str) -> bool:
    """True when the first non-empty line is a date."""
    first = next((x for x in text.split("\n") if x.strip()), "")
    return len(first) <= 80 and parse_date(first) is not None


def read(text: str, path: str) -> Parsed:
    """Parse the text; the language is guessed from the words, the source left to the caller."""
    lines = clean_lines(text)
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
    return Parsed([ParsedDocument(date=date, turns=(Turn("", tuple(paras)),), lang=guess_lang(" ".join(paras)))])


READER = Reader("plain", sniff, read, shape="a dated plain transcript (first line a date)", rank=2,
                suffixes=(".txt", ".text"))
