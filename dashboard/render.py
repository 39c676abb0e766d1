"""Safe HTML for statement text: escape everything, then mark the evidence terms."""

from __future__ import annotations

import html
import re

_VARIANTS = {"a": "aáàäâ", "e": "eéèëê", "i": "iíìïî", "o": "oóòöô", "u": "uúùüû", "n": "nñ", "c": "cç"}


def _term_pattern(term: str) -> str:
    out = []
    for ch in term:
        if ch.lower() in _VARIANTS:
            out.append("[" + _VARIANTS[ch.lower()] + _VARIANTS[ch.lower()].upper() + "]")
        elif ch == " ":
            out.append(r"\s+")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def highlight(text: str, terms: list[str]) -> str:
    """HTML of ``text`` with each evidence term (accent-insensitive, whole words) in <mark>.

    The text is escaped first, so markup inside a transcript shows as text.
    """
    safe = html.escape(text)
    terms = [t for t in dict.fromkeys(terms) if t and len(t) > 1]
    if not terms:
        return safe
    pat = re.compile(r"(?<!\w)(" + "|".join(_term_pattern(html.escape(t)) for t in
                                           sorted(terms, key=len, reverse=True)) + r")\w*", re.I)
    return pat.sub(lambda m: f"<mark>{m.group(0)}</mark>", safe)
