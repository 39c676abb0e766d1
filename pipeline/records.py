"""The plain records passed between stages. Field names are the same everywhere."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


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
