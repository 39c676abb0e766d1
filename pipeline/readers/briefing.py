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
_STAGE = re.compile(r"^[\(\[][^()\[\]]{0,120}[\)\]]\.?$")


def sniff(text: str) -> bool:
    """True when the text has YAML front matter with a date or a title."""
    m = _FRONT.match(text[:20000])
    return bool(m) and re.search(r"^(date|title):", m.group(1), re.M) is not None


def _front_matter(block: str) -> dict[str, str]:
    """A tolerant reader of the simple YAML these files use (scalars, folded titles)."""
    fields: dict[str, str] = {}
    key = None
    for raw in block.split("\n"):
        m = re.match(r"^([A-Za-z_][\w-]*):\s?(.*)$", raw)
        if m:
            key = m.group(1)
            fields[key] = m.group(2).strip()
        elif key and raw.startswith((" ", "\t")):
            fields[key] += " " + raw.strip()
    for k, v in fields.items():
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            quote = v[0]
            v = v[1:-1]
            if quote == '"':
                # YAML double-quoted escapes used by these files: line folds and NBSP.
                v = re.sub(r"\\\s+\\?", "", v)
                v = v.replace("\\_", "\u00a0").replace('\\"', '"').replace("\\ ", " ")
            else:
                v = v.replace("''", "'")
        fields[k] = clean_line(v.replace("\ufeff", ""))
    return fields


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
