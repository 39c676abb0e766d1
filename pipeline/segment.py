"""Documents to statements: one paragraph by one speaker, with a stable id and a position."""

from __future__ import annotations

import hashlib
import re

from pipeline.speakers import identify
from pipeline.stages import Document, Statement

# A paragraph with no letters ("—", "...") says nothing.
_HAS_WORD = re.compile(r"[^\W\d_]{2,}")


def statement_id(doc_id: str, position: int) -> str:
    """Stable id: the document's content hash and the paragraph's position in it."""
    return hashlib.sha256(f"{doc_id}:{position}".encode()).hexdigest()[:16]


def segment(doc: Document) -> list[Statement]:
    """Split a document into statements, in reading order."""
    out: list[Statement] = []
    position = 0
    for turn in doc.turns:
        speaker, role = identify(turn.speaker_raw, doc.convention, doc.date.isoformat())
        for para in turn.paragraphs:
            text = para.strip()
            if not _HAS_WORD.search(text):
                continue
            out.append(Statement(
                statement_id=statement_id(doc.doc_id, position), doc_id=doc.doc_id, date=doc.date,
                source=doc.source, lang=doc.lang, speaker_raw=turn.speaker_raw, speaker=speaker,
                role=role, position=position, text=text,
            ))
            position += 1
    return out
