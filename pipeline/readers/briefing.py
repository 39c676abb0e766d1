"""Briefing-room markdown (whitehouse.gov): YAML front matter, then a hard-wrapped body.

Paragraphs are separated by blank lines; wrapped lines are re-joined. In briefings a turn
starts with a label such as ``MS. JEAN-PIERRE:`` or ``Q`` and runs until the next label.
"""

from __future__ import annotations

import re

from pipeline.errors import InputError
from pipeline.readers.common import Parsed, ParsedDocument, Reader, check_date, clean_line, parse_date
from pipeline.stages import BRIEFING_ROOM, Turn

_FRONT = re.compile(r"\A\s*---\n(.*?)\n---[ \t]*\n", re.S)
# A turn label: "MS. PSAKI:", "THE PRESIDENT:", "SENIOR ADMINISTRATION OFFICIAL:", or a bare "Q".
_LABEL = re.compile(
    r"^(Q|(?:[A-Z][A-Za-z.'\-]*\.? )?[A-Z][A-ZÁÉÍÓÚÑ.'\-]+(?: [A-ZÁÉÍÓÚÑ.'\-]+){0,5}):?(?:\s{1,}|$)"
)
_BOILERPLATE = re.compile(
    r"^(James S\. Brady Press Briefing Room|The White House|\d{1,2}:\d{2} [AP]\.M\. [A-Z]{2,4}"
    r"|END|END \d{1,2}:\d{2} [AP]\.M\. [A-Z]{2,4}|###|\*\s*\*\s*\*|Via Teleconference|"
    r"THE WHITE HOUSE|Office of the Press Secretary|FOR IMMEDIATE RELEASE|BRIEFING ROOM)$",
    re.I,
)
# A paragraph that is only stage notes: "(Applause.)", "(Inaudible.) (Laughter.)", and the same
# wrapped in markdown emphasis, dashes, an ellipsis or end punctuation, as the corpus has
# "*(The executive order is signed.)*", "(Inaudible) —", "— (inaudible).", "— (inaudible)?",
# "[Senior administration official]?". A bracket followed by "(" is a markdown link, not a note.
_NOTE = r"(?:\([^()\[\]]{0,120}\)|\[[^()\[\]]{0,120}\](?!\())"
_WRAP = "[\\s*_\\-\u2012-\u2015\u2026.?!\u200b\u2060\ufeff]*"
_STAGE = re.compile(rf"^{_WRAP}{_NOTE}(?:{_WRAP}{_NOTE})*{_WRAP}$")


def sniff(text: str) -> bool:
    """True when the text has YAML front matter with a date or a title."""
    m = _FRONT.match(text[:20000])
    return bool(m) and re.search(r"^(date|title):", m.group(1), re.M) is not None


def _front_matter(block: str) -> dict[str, str]:
    """A tolerant reader of the simple YAML these files use: one scalar a key, plain, single- or
    double-quoted, continued on indented lines (long titles)."""
    lines: dict[str, list[str]] = {}
    key = None
    for raw in block.split("\n"):
        m = re.match(r"^([A-Za-z_][\w-]*):\s?(.*)$", raw)
        if m:
            key = m.group(1)
            lines[key] = [m.group(2)]
        elif key and raw.startswith((" ", "\t")):
            lines[key].append(raw)
    return {k: _visible(scalar("\n".join(v))) for k, v in lines.items()}


def _visible(value: str) -> str:
    """A front-matter value as stored: spaces collapsed, and without U+FEFF and U+2060 (word joiner,
    as in "COVID-\\u206019"), which only keep a line from breaking; in a title they are invisible
    and would make it differ from the same words typed."""
    return clean_line(value.replace("\ufeff", "").replace("\u2060", ""))


# YAML's escapes in double-quoted scalars (YAML 1.2, section 5.7), by the letter after the backslash.
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
            "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
            "_": "\u00a0", "L": "\u2028", "P": "\u2029"}
_HEX = "[0-9A-Fa-f]"
_DOUBLE = re.compile(
    r"\\\n((?:[ \t]*\n)*)[ \t]*"  # an escaped line break: nothing (and a newline per empty line after it)
    rf"|\\u([Dd][89ABab]{_HEX}{{2}})\\u([Dd][C-Fc-f]{_HEX}{{2}})"  # a surrogate pair, as JSON writes one
    rf"|\\(?:x({_HEX}{{2}})|u({_HEX}{{4}})|U({_HEX}{{8}}))"
    r"|\\(.)"
    r"|[ \t]*\n((?:[ \t]*\n)*)[ \t]*")  # a line break: a space, or a newline per empty line after it
_BREAK = re.compile(r"[ \t]*\n((?:[ \t]*\n)*)[ \t]*")


def _folded(empty: str | None) -> str:
    """A folded line break: one space, or one newline for each empty line that followed it."""
    return "\n" * empty.count("\n") if empty else " "


def _unescape(m: re.Match) -> str:
    escaped_break, high, low, x, u, big, char, folded = m.groups()
    if escaped_break is not None:
        return "\n" * escaped_break.count("\n")
    if high:
        return chr(0x10000 + (int(high, 16) - 0xD800) * 0x400 + int(low, 16) - 0xDC00)
    code = x or u or big
    if code:
        n = int(code, 16)
        # A lone surrogate or a number past Unicode cannot be stored as text.
        return "\ufffd" if 0xD800 <= n <= 0xDFFF or n > 0x10FFFF else chr(n)
    if char is not None:
        return _ESCAPES.get(char, m.group())  # an unknown escape is kept as written
    return _folded(folded)


# The escapes that readers before YAML escapes were decoded left in stored titles ("Trump\u2019s").
_CODE = re.compile(rf"\\u[Dd][89ABab]{_HEX}{{2}}\\u[Dd][C-Fc-f]{_HEX}{{2}}"
                   rf"|\\(?:x{_HEX}{{2}}|u{_HEX}{{4}}|U{_HEX}{{8}})")


def decode_stored_title(title: str) -> str:
    """A title as an older reader stored it, as this reader gives it: its ``\\xXX``, ``\\uXXXX``,
    ``\\UXXXXXXXX`` escapes (and surrogate pairs) decoded, U+2060 and U+FEFF dropped. The other
    escapes were decoded already."""
    return _visible(_CODE.sub(lambda m: _DOUBLE.sub(_unescape, m.group()), title)) if "\\" in title else title


def scalar(text: str) -> str:
    """A YAML flow scalar's value: double-quoted (escapes decoded), single-quoted ('' is a quote)
    or plain; line breaks folded. A quote left open is kept as text."""
    text = text.strip()
    inner = text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"' and (len(inner) - len(inner.rstrip("\\"))) % 2 == 0:
        return _DOUBLE.sub(_unescape, inner)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = inner.replace("''", "'")
    return _BREAK.sub(lambda m: _folded(m.group(1)), text)


def _is_label(candidate: str) -> bool:
    if candidate == "Q":
        return True
    words = candidate.replace(".", " ").split()
    # A label is upper case and short; a shouted sentence is not a label.
    return candidate.isupper() and 1 <= len(words) <= 6 and len(candidate) <= 60


def read(text: str, path: str) -> Parsed:
    """Parse front matter and body into turns; raises InputError when it cannot."""
    m = _FRONT.match(text)
    if not m:
        raise InputError(path, "briefing markdown without YAML front matter ('---' ... '---')")
    meta = _front_matter(m.group(1))
    date = check_date(parse_date(meta.get("date", "")) or parse_date(meta.get("published_time", "")),
                      path, "expected 'date:' in the front matter")
    body = text[m.end():].replace("\\[", "[").replace("\\]", "]").replace("\\*", "*")
    turns: list[Turn] = []
    speaker = ""
    paras: list[str] = []

    def flush() -> None:
        if paras:
            turns.append(Turn(speaker, tuple(paras)))

    for block in re.split(r"\n[ \t\u00a0]*\n", body):
        para = clean_line(" ".join(x.strip() for x in block.split("\n")))
        if not para or _BOILERPLATE.match(para) or _STAGE.match(para):
            continue
        lm = _LABEL.match(para)
        if lm and _is_label(lm.group(1)) and (lm.group(0).rstrip().endswith(":") or lm.group(1) == "Q"):
            rest = para[lm.end():].strip()
            flush()
            speaker, paras = lm.group(1), []
            if rest and not _STAGE.match(rest):
                paras.append(rest)
            continue
        paras.append(para)
    flush()
    if not turns:
        raise InputError(path, "briefing markdown with an empty body")
    return Parsed([ParsedDocument(date=date, turns=tuple(turns), lang="en", title=meta.get("title", ""),
                                  source="White House", url=meta.get("source_url", ""))])


READER = Reader("briefing", sniff, read, shape="briefing markdown (YAML front matter)", rank=0,
                suffixes=(".md", ".markdown"), convention=BRIEFING_ROOM)
