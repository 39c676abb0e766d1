"""The topics file: topics as data (name, description, bilingual cues, exclusions)."""

from __future__ import annotations

import hashlib
import re
import stat
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.errors import ModelError
from pipeline.settings import DEFAULT_TOPICS
from pipeline.tagger.text import normalise


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
        mode = p.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # /dev/zero would be read until memory runs out
            from pipeline.readers import file_kind  # here: every process that tags imports this module

            raise ModelError(f"{p}: cannot read topics file (not a regular file: {file_kind(mode)})")
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p}: cannot read topics file ({exc.strerror or exc})") from exc
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{p}: not a valid TOML topics file ({exc})") from exc
    tables = doc.get("topic", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ModelError(f"{p}: 'topic' must be [[topic]] tables")
    topics = []
    for i, t in enumerate(tables):
        name = str(t.get("name", "")).strip()
        if not re.fullmatch(r"[a-z][a-z0-9_\-]{0,40}", name):
            raise ModelError(f"{p}: topic #{i + 1} needs a lower-case 'name' (letters, digits, _ or -)")
        cues, exclude = _phrases(p, t, name, "cues"), _phrases(p, t, name, "exclude")
        if not cues:
            raise ModelError(f"{p}: topic {name!r} has no cues")
        topics.append(Topic(name, str(t.get("description", "")), cues, exclude))
    if not topics:
        raise ModelError(f"{p}: no [[topic]] tables")
    names = [t.name for t in topics]
    if len(set(names)) != len(names):
        raise ModelError(f"{p}: a topic name appears twice")
    return topics, hashlib.sha256(data).hexdigest()[:12]


def _phrases(path: Path, table: dict, name: str, key: str) -> tuple[str, ...]:
    """A topic's list of phrases; ModelError for anything else (a string would be read as its
    letters, each a cue)."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelError(f"{path}: topic {name!r}: {key!r} must be a list of strings")
    return tuple(value)


# -- cue matching: one mechanism for the model's cue features and the keyword baseline ---------
# (compiled lazily, module-level: nothing compiled lives on an estimator)

def trie_regex(phrases: tuple[str, ...]) -> str:
    """One regex for many phrases, factored as a prefix trie (much faster than a flat alternation).

    A phrase is normalised text; a trailing ``*`` matches any word ending; spaces match any run of
    spaces. Longer continuations are tried before a shorter phrase ends.
    """
    trie: dict = {}
    for ph in phrases:
        star = ph.endswith("*")
        body = normalise(ph.rstrip("*"))
        if not body:
            continue
        node = trie
        for ch in body:
            node = node.setdefault(ch, {})
        node["*" if star else ""] = True

    def emit(node: dict) -> str:
        alts = []
        for ch in sorted(k for k in node if k not in ("", "*")):
            alts.append((r"\s+" if ch == " " else re.escape(ch)) + emit(node[ch]))
        if "*" in node:
            alts.append(r"\w*\b")
        elif "" in node:
            alts.append(r"\b")
        if len(alts) == 1:
            return alts[0]
        return "(?:" + "|".join(alts) + ")"

    return r"\b" + emit(trie) if trie else r"(?!x)x"


@lru_cache(maxsize=256)
def cue_regexes(cues: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern | None]:
    """The cue and exclusion regexes of one topic, compiled once."""
    return re.compile(trie_regex(cues)), (re.compile(trie_regex(exclude)) if exclude else None)


def find_cues(cues: tuple[str, ...], exclude: tuple[str, ...], norm_text: str) -> list[str]:
    """The cues found in an already normalised text, after removing the exclusions."""
    cue_re, ex_re = cue_regexes(cues, exclude)
    if ex_re is not None and ex_re.search(norm_text):
        norm_text = ex_re.sub(" ", norm_text)
    return [m.group() for m in cue_re.finditer(norm_text)]


def cue_matches(topic: Topic, norm_text: str) -> list[str]:
    """The cue words found in an already normalised text, after removing exclusions."""
    return find_cues(topic.cues, topic.exclude, norm_text)
