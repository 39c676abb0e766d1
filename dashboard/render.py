"""Safe output for anything that came from a transcript or a records file.

Speaker, source, title, url and statement text are data, not markup: a speaker named
``![x](http://host/pixel.png)`` must show those characters, not make every viewer's browser
fetch an image. Markdown gets :func:`md_text` and :func:`md_link`; HTML gets :func:`highlight`.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

from pipeline.display import head, readable  # noqa: F401 - the views take them from here with the rest

_VARIANTS = {"a": "aáàäâ", "e": "eéèëê", "i": "iíìïî", "o": "oóòöô", "u": "uúùüû", "n": "nñ", "c": "cç"}
# Every ASCII punctuation character that can start or close Markdown (links, images, emphasis,
# code, HTML, headings, lists, tables, maths, Streamlit's :colour[...] directives). CommonMark
# lets any ASCII punctuation be backslash-escaped; quotes, commas and the like are left as they
# are so that the Markdown source stays readable.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&^=@])")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
# Characters kept as they are in a link target; everything else (spaces, parentheses, angle
# brackets, quotes, backslashes, control characters) is percent-encoded so the target cannot end
# the link early.
_URL_SAFE = "/:?#@$&'*+,;=%~-._"


def md_text(value: object) -> str:
    """``value`` as Markdown that shows exactly its characters, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(value)))


def safe_url(url: object) -> str | None:
    """``url`` made safe for a Markdown link target, or None unless it is an http(s) URL."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=_URL_SAFE)


def md_link(url: object, label: object) -> str:
    """A Markdown link when ``url`` is http(s); otherwise both shown as escaped text."""
    target = safe_url(url)
    label = label or url
    if target is None:
        label, url = str(label or ""), str(url or "")
        return md_text(f"{label} ({url})" if label and url and url != label else label or url)
    return f"[{md_text(label)}]({target})"


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


def highlight(text: str, terms: list[str], searched: list[str] | tuple[str, ...] = ()) -> str:
    """HTML of ``text`` with each evidence term (accent-insensitive, whole words) in <mark>, and each
    word or phrase of the search, ``searched``, in <mark class="hit"> (a search word that is also
    evidence is marked as searched: that is what the reader looks for).

    The text is escaped first, so markup inside a transcript shows as text. Line breaks become
    <br>: a blank line would end the HTML block it is shown in, and Streamlit would read what
    follows as Markdown.
    """
    safe = html.escape(text)
    groups = []
    for name, words in (("hit", searched), ("ev", terms)):
        words = [t for t in dict.fromkeys(words) if t and len(t) > 1]
        if words:
            alts = "|".join(_term_pattern(html.escape(t)) for t in sorted(words, key=len, reverse=True))
            groups.append(f"(?P<{name}>{alts})")
    if groups:
        pat = re.compile(r"(?<!\w)(?:" + "|".join(groups) + r")\w*", re.I)
        safe = pat.sub(lambda m: (f'<mark class="hit">{m.group(0)}</mark>' if m.lastgroup == "hit"
                                  else f"<mark>{m.group(0)}</mark>"), safe)
    return _LINE_BREAKS.sub("<br>", safe)
