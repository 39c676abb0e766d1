"""Records: JSON Lines or CSV, one statement a record, for any other source.

Required fields: ``date`` and ``text``; optional: ``speaker``, ``source``, ``title``, ``url``,
``lang``. A bad record refuses that line only; records are grouped into documents by
(date, source, title, url, and lang when given) so that a records file can hold many days.
"""

from __future__ import annotations

import csv
import io
import json
import re

from pipeline.errors import InputError
from pipeline.readers.common import (
    Parsed,
    ParsedDocument,
    Reader,
    cap_paragraph,
    check_date,
    clean_line,
    guess_lang,
    json_fault,
    parse_date,
)
from pipeline.stages import Turn

REQUIRED = ("date", "text")
OPTIONAL = ("speaker", "source", "title", "url", "lang")
LANGS = ("en", "es")  # the languages the tagger was trained on
# JSON may escape half a surrogate pair ("\ud800"): valid JSON, but no character, and SQLite
# refuses to store it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def sniff_jsonl(text: str) -> bool:
    first = next((x for x in text.split("\n") if x.strip()), "")
    return first.lstrip().startswith("{")


def sniff_csv(text: str) -> bool:
    first = next((x for x in text.split("\n") if x.strip()), "").lower()
    cols = [c.strip().strip('"') for c in first.split(",")]
    return "date" in cols and "text" in cols


def _rows(text: str, path: str, kind: str):
    """Yield (line number, dict or InputError) for each record."""
    if kind == "jsonl":
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, InputError(path, json_fault(exc), line=n)
                continue
            except RecursionError:  # e.g. 100,000 nested '[': that line only, not the file
                yield n, InputError(path, "JSON nested too deeply", line=n)
                continue
            if not isinstance(obj, dict):
                yield n, InputError(path, "a JSON line must be an object with 'date' and 'text'", line=n)
                continue
            yield n, obj
        return
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not set(REQUIRED) <= {f.strip().lower() for f in reader.fieldnames if f}:
        raise InputError(path, f"CSV header must name the columns {', '.join(REQUIRED)} "
                               f"(found: {', '.join(reader.fieldnames or [])})")
    rows = iter(reader)
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit(): that record only
            yield first_line, InputError(path, f"CSV record not read ({exc})", line=first_line)
            continue
        n = reader.line_num
        if None in row:
            yield n, InputError(path, "more values than header columns", line=n)
            continue
        yield n, {(k or "").strip().lower(): v for k, v in row.items()}


def read_jsonl(text: str, path: str) -> Parsed:
    """Parse JSON Lines records (one object a line)."""
    return _read(text, path, "jsonl")


def read_csv(text: str, path: str) -> Parsed:
    """Parse CSV records (a header naming the columns)."""
    return _read(text, path, "csv")


def _read(text: str, path: str, kind: str) -> Parsed:
    """Parse records into documents (one per date/source/title/url) and line problems."""
    groups: dict[tuple, ParsedDocument] = {}
    turns: dict[tuple, list[Turn]] = {}  # a group's turns, gathered in a list (tuples would copy each time)
    problems: list[InputError] = []
    other_langs: dict[str, list[int]] = {}  # a lang that is not one of LANGS: the lines that give it
    for n, row in _rows(text, path, kind):
        if isinstance(row, InputError):
            problems.append(row)
            continue
        missing = [k for k in REQUIRED if not str(row.get(k) or "").strip()]
        if missing:
            problems.append(InputError(path, f"missing {', '.join(missing)}", line=n))
            continue
        wrong = _not_text(row)
        if wrong:
            problems.append(InputError(path, wrong, line=n))
            continue
        try:
            parsed = parse_date(str(row["date"]))
            if parsed is None:
                raise InputError(path, f"unparseable date {row['date']!r}")
            date = check_date(parsed, path, "")
        except InputError as exc:
            problems.append(InputError(path, exc.reason, line=n))
            continue
        text_, length = cap_paragraph(_SURROGATE.sub("\ufffd", clean_line(str(row["text"]))))
        meta = {k: _SURROGATE.sub("\ufffd", clean_line(str(row.get(k) or ""))) for k in OPTIONAL}
        given, meta["lang"] = meta["lang"], _lang(meta["lang"])
        if given and not meta["lang"]:
            other_langs.setdefault(given, []).append(n)
        # Records in another language than their neighbours' are another document (a document has one).
        key = (date, meta["source"], meta["title"], meta["url"]) + ((meta["lang"],) if meta["lang"] else ())
        doc = groups.get(key)
        if doc is None:
            doc = groups[key] = ParsedDocument(date=date, turns=(), lang=meta["lang"], title=meta["title"],
                                               source=meta["source"], url=meta["url"], key="|".join(map(str, key)))
            turns[key] = []
        turns[key].append(Turn(meta["speaker"], (text_,)))
        if length > len(text_):
            doc.notes.append(f"line {n}: text cut from {length:,} to {len(text_):,} characters "
                             f"(the limit for one statement)")
    if not groups and not problems:
        raise InputError(path, "records file with no records")
    docs = list(groups.values())
    for key, doc in groups.items():
        doc.turns = tuple(turns[key])
        if not doc.lang:
            doc.lang = guess_lang(" ".join(p for t in doc.turns for p in t.paragraphs))
    for given, lines in other_langs.items():
        shown = ", ".join(map(str, lines[:5])) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
        docs[0].notes.append(f"lang {given!r} (line{'s' if len(lines) > 1 else ''} {shown}) is not one of "
                             f"{', '.join(LANGS)}: the language was guessed from the text")
    return Parsed(docs, problems)


def _not_text(row: dict) -> str | None:
    """Why a record's field is no text (a JSON list, object, number or true/false), or None.
    Written out, ``["a"]`` would be stored as the Python text "['a']"."""
    for k in (*REQUIRED, *OPTIONAL):
        v = row.get(k)
        if v is None or isinstance(v, str) or (k == "date" and isinstance(v, int) and not isinstance(v, bool)):
            continue
        kind = {list: "a list", dict: "an object", bool: "true/false"}.get(type(v), "a number")
        return f"{k} must be a string, not {kind}"
    return None


def _lang(value: str) -> str:
    """A record's lang as the tagger's languages name it ('ES', 'es-MX' -> 'es'), or '' when it is
    none of them (or not given)."""
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGS else ""


_SHAPE = "records (JSONL/CSV with date,text)"
JSONL = Reader("jsonl", sniff_jsonl, read_jsonl, shape=_SHAPE, rank=3, suffixes=(".jsonl", ".ndjson"),
               suffix_decides=True, kind="records")
CSV = Reader("csv", sniff_csv, read_csv, shape=_SHAPE, rank=4, suffixes=(".csv",), suffix_decides=True,
             kind="records")
