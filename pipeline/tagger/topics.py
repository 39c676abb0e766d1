"""The topics file: topics as data (name, description, bilingual cues, exclusions)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.errors import ModelError
from pipeline.tagger.text import normalise

DEFAULT_TOPICS = Path(__file__).resolve().parent.parent / "topics.toml"


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    cues: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def load_topics(path: str | Path = DEFAULT_TOPICS) -> tuple[list[Topic], str]:
    """Read the topics file; returns the topics and the file's content hash (its version)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p}: cannot read topics file ({exc.strerror or exc})") from exc
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{p}: not a valid TOML topics file ({exc})") from exc
    topics = []
    for i, t in enumerate(doc.get("topic", [])):
        name = str(t.get("name", "")).strip()
        if not re.fullmatch(r"[a-z][a-z0-9_\-]{0,40}", name):
            raise ModelError(f"{p}: topic #{i + 1} needs a lower-case 'name' (letters, digits, _ or -)")
        cues = tuple(str(c) for c in t.get("cues", []))
        if not cues:
            raise ModelError(f"{p}: topic {name!r} has no cues")
        topics.append(Topic(name, str(t.get("description", "")), cues,
                            tuple(str(c) for c in t.get("exclude", []))))
    if not topics:
        raise ModelError(f"{p}: no [[topic]] tables")
    names = [t.name for t in topics]
    if len(set(names)) != len(names):
        raise ModelError(f"{p}: a topic name appears twice")
    return topics, hashlib.sha256(data).hexdigest()[:12]


def _phrase_pattern(phrases: tuple[str, ...]) -> str:
    parts = []
    for raw in phrases:
        star = raw.strip().endswith("*")  # before normalising, which drops the '*'
        ph = normalise(raw.strip().rstrip("*"))
        if not ph:
            continue
        body = re.escape(ph).replace(r"\ ", r"\s+")
        parts.append(body + (r"\w*" if star else "") + r"\b")
    parts.sort(key=len, reverse=True)
    return r"\b(?:" + "|".join(parts) + ")" if parts else r"(?!x)x"


@lru_cache(maxsize=256)
def compiled(cues: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern | None]:
    """The cue and exclusion regexes of one topic, compiled once."""
    return re.compile(_phrase_pattern(cues)), (re.compile(_phrase_pattern(exclude)) if exclude else None)


def cue_matches(topic: Topic, norm_text: str) -> list[str]:
    """The cue words found in an already normalised text, after removing exclusions."""
    cue_re, ex_re = compiled(topic.cues, topic.exclude)
    if ex_re is not None:
        norm_text = ex_re.sub(" ", norm_text)
    return cue_re.findall(norm_text)
