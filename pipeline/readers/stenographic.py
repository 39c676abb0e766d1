"""Stenographic conference transcripts (gob.mx mañaneras).

Header (title, 'Presidencia de la República', a Spanish date), then blocks separated by a
line '---'; each block is a speaker label line followed by paragraph lines.
"""

from __future__ import annotations

import re

from pipeline.errors import InputError
from pipeline.readers.common import Parsed, ParsedDocument, Reader, check_date, clean_lines, fold, parse_date
from pipeline.stages import Turn

# Stage notes and editorial marks on a line of their own: "(Inaudible)", "(INICIA VIDEO)"; also
# when only dashes, an ellipsis, question marks or a zero-width space wrap them, as the corpus has
# "—(inaudible)—", "—(inaudible) —.", "- (Inaudible)", "(Inaudible)-", "…(Inaudible)", "¿(inaudible)?".
_WRAP = "[ \\-\u2012-\u2015\u2026.¿?\u200b\u2060\ufeff]*"
_STAGE = re.compile(rf"^{_WRAP}[\(\[][^()\[\]]{{0,120}}[\)\]]{_WRAP}$")
_SEPARATOR = re.compile(r"^-{3,}\s*$", re.M)


def sniff(text: str) -> bool:
    """True when the text looks like a stenographic transcript."""
    head = fold(text[:600])
    return bool(_SEPARATOR.search(text[:5000])) and (
        "presidencia de la republica" in head or "version estenografica" in head
        or "conferencia de prensa" in head
    )


def read(text: str, path: str) -> Parsed:
    """Parse the text into header fields and turns; raises InputError when it cannot."""
    blocks = _SEPARATOR.split(text)
    header = [x for x in clean_lines(blocks[0]) if x]
    if not header:
        raise InputError(path, "stenographic transcript with no header (title and date before the first '---')")
    title = header[0]
    header_date = None
    for line in header[1:] + header[:1]:
        header_date = parse_date(line)
        if header_date:
            break
    date = check_date(header_date, path, "expected a header line such as '12 de enero de 2026'")
    notes = []
    title_date = parse_date(title)
    if title_date and title_date != date:
        # gob.mx titles carry typos; the dated header line is the presidency's own record.
        notes.append(f"title says {title_date.isoformat()} but the header says {date.isoformat()}; "
                     "using the header date")
    turns: list[Turn] = []
    for block in blocks[1:]:
        lines = [x for x in clean_lines(block) if x]
        if not lines:
            continue
        label, paras = lines[0], [p for p in lines[1:] if not _STAGE.match(p)]
        if _STAGE.match(label) or len(label) > 200:
            # A block that opens with a stage note or a long paragraph has lost its label;
            # keep its words under an unknown speaker rather than inventing one.
            paras = [p for p in lines if not _STAGE.match(p)]
            label = ""
        if paras:
            turns.append(Turn(label.rstrip(":"), tuple(paras)))
    if not turns:
        raise InputError(path, "stenographic transcript with no speaker blocks (no '---' followed by a label and text)")
    return Parsed([ParsedDocument(date=date, turns=tuple(turns), lang="es", title=title, source="Mexican presidency",
                                  notes=notes)])


READER = Reader("stenographic", sniff, read, shape="a stenographic transcript ('---' speaker blocks)", rank=1,
                suffixes=(".txt", ".text"))
