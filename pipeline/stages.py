"""The values passed between the stages (reader -> segment -> tagger -> store). Field names are the same everywhere."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Speaker-label conventions (``Document.convention``), set by the reader that read the document:
# pipeline/speakers.py chooses its rules by them, never by the source name a user may give.
BRIEFING_ROOM = "whitehouse-briefing"  # whitehouse.gov briefing-room markdown: 'MS. PSAKI:', 'THE PRESIDENT:'


@dataclass(frozen=True)
class Turn:
    """What one speaker said without interruption: a label and its paragraphs."""

    speaker_raw: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """One input file, read. ``doc_id`` is the hash of the file's bytes."""

    doc_id: str
    path: str
    format: str
    date: dt.date
    source: str
    lang: str
    title: str
    url: str
    turns: tuple[Turn, ...]
    convention: str = ""  # how its speaker labels are written (BRIEFING_ROOM or generic); set by its reader


@dataclass(frozen=True)
class Statement:
    """One paragraph said by one speaker."""

    statement_id: str
    doc_id: str
    date: dt.date
    source: str
    lang: str
    speaker_raw: str
    speaker: str
    role: str
    position: int
    text: str


@dataclass(frozen=True)
class Tagged:
    """A tagger's verdict on one text: the topics above threshold and every topic's score."""

    topics: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TaggedBatch:
    """A tagger's verdicts on a batch of texts as arrays (texts x ``topics``): ``scores`` rounded as
    ``Tagged`` keeps them, ``hits`` where the unrounded score reaches the topic's threshold. What a
    run stores, without a ``Tagged`` object and a dict per statement (a second of a cold run's CPU)."""

    topics: tuple[str, ...]
    scores: np.ndarray
    hits: np.ndarray

    def part(self, start: int, stop: int) -> TaggedBatch:
        """The verdicts on texts ``start`` to ``stop`` (views, not copies)."""
        return TaggedBatch(self.topics, self.scores[start:stop], self.hits[start:stop])

    def tagged(self) -> list[Tagged]:
        """The same verdicts, one ``Tagged`` per text."""
        names = self.topics
        return [Tagged(tuple(t for t, h in zip(names, hit) if h), dict(zip(names, row)))
                for row, hit in zip(self.scores.tolist(), self.hits.tolist())]
