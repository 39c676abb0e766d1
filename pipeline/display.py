"""How a stored statement is shown to a reader, on the dashboard and in the briefs' report pages.

The store and its exports keep the text as read; these only change what is displayed.
"""

from __future__ import annotations

import re

# Formatting the White House pages carry into their paragraphs: harmless tags (a <script> or any
# other tag is left alone, so it shows as written), Markdown links to web pages and bold (an image's
# Markdown is no word of the statement: it shows as written).
_FORMAT_TAG = re.compile(r"</?(?:span|sup|sub|strong|em|b|i|u|p|div|a|font)(?:\s[^<>]{0,300})?/?>|<br\s*/?>", re.I)
_MD_LINK = re.compile(r"(?<!!)\[([^\[\]\n]{1,300})\]\((?:https?://|/)[^()\s]{1,2000}\)")
_MD_BOLD = re.compile(r"\*\*(?=\S)(.{1,300}?)(?<=\S)\*\*")


def counted(n: int, noun: str, plural: str | None = None, fmt: str = "") -> str:
    """``n`` and its noun, singular for one ('1 quote', '0 quotes', '2 documents'); ``fmt`` formats
    the number (',' for thousands separators)."""
    return f"{n:{fmt}} {noun if n == 1 else plural or noun + 's'}"


def signed(x: float, digits: int = 1) -> str:
    """``x`` with its sign, to ``digits`` decimals. A value that rounds to zero gets one decimal
    more when that shows its direction ("-0.04", not "-0.0"), and no sign when even that rounds to
    zero ("0.0", not "+0.0" or "-0.0": a reader takes a sign for a direction)."""
    for d in (digits, digits + 1):
        text = f"{x:+.{d}f}"
        if float(text) != 0:
            return text
    return f"{0:.{digits}f}"


def readable(text: str) -> str:
    """A statement as a reader wants it: formatting tags, Markdown links (their words kept) and
    bold marks taken out. For display only; the store and its exports keep the text as read."""
    if "<" in text:
        text = _FORMAT_TAG.sub("", text)
    if "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    if "**" in text:
        text = _MD_BOLD.sub(r"\1", text)
    return text


def head(text: str, chars: int) -> str:
    """The start of a long text, at most ``chars`` characters, cut at a space (not inside a word)."""
    return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0]


def shortened(text: str, chars: int) -> str:
    """``text``, or its ``head`` and an ellipsis when it is longer: a cut quote says it is cut."""
    return text if len(text) <= chars else head(text, chars) + " …"


def size_text(e: dict) -> str:
    """How big an event is and how sure that is, in a few words: the peak's share with its 95 %
    interval (or that it is the share as tagged, when there is none) and the usual share. What the
    Events page's headers, the `events` command and the briefs' report pages print (here, not
    in ``events``, which needs pandas: a run's reports are written without it)."""
    usual = f"usual {100 * e['baseline_share']:.1f}%"
    ci = e.get("share_ci")
    if ci:
        return f"{100 * e['share']:.1f}% (95 %: {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%; {usual})"
    return f"{100 * e['share']:.1f}% as tagged ({usual})"
