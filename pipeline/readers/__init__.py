"""Readers turn one input file into Documents. ``read_path`` detects the format.

One module per format; each has ``sniff(text) -> bool`` and ``read(text, path)``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import InputError, UsageError
from pipeline.readers import briefing, plain, records, stenographic
from pipeline.readers.common import MAX_STATEMENT_CHARS, cap_paragraph, content_hash, decode, not_a_date
from pipeline.records import Document, Turn

FORMATS = ("auto", "plain", "stenographic", "briefing", "jsonl", "csv")
# Files larger than this are refused: transcripts are kilobytes, a 100 MB "transcript" is a mistake.
MAX_BYTES = 50 * 1024 * 1024
SUFFIXES = {".txt", ".md", ".markdown", ".jsonl", ".ndjson", ".csv", ".text"}


@dataclass
class ReadResult:
    """What one file gave: its documents, and the problems with single lines of it."""

    path: str
    file_hash: str
    format: str
    documents: list[Document] = field(default_factory=list)
    problems: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # accepted, but worth a look


def detect(text: str, path: str) -> str:
    """Guess the format from the file's name and first lines."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if briefing.sniff(text):
        return "briefing"
    if stenographic.sniff(text):
        return "stenographic"
    if plain.sniff(text):
        return "plain"
    if records.sniff_jsonl(text):
        return "jsonl"
    if records.sniff_csv(text):
        return "csv"
    wrong = not_a_date(next((x for x in text.split("\n") if x.strip()), ""), path)
    if wrong:  # 'FEBRUARY 31, 2026': a plain transcript with an impossible date
        raise wrong
    raise InputError(path, "unknown format: not a dated plain transcript (first line a date), a "
                           "stenographic transcript ('---' speaker blocks), briefing markdown "
                           "(YAML front matter) or records (JSONL/CSV with date,text); "
                           "use --format to say which")


def _doc(path: str, doc_id: str, fmt: str, d: dict, notes: list[str]) -> Document:
    turns = tuple(t if isinstance(t, Turn) else Turn(t[0], (t[1],)) for t in d["turns"])
    if any(len(p) > MAX_STATEMENT_CHARS for t in turns for p in t.paragraphs):
        turns = _capped(turns, notes)
    return Document(doc_id=doc_id, path=path, format=fmt, date=d["date"], source=d["source"],
                    lang=d["lang"], title=d["title"], url=d["url"], turns=turns)


def _capped(turns: tuple[Turn, ...], notes: list[str]) -> tuple[Turn, ...]:
    """Turns with every paragraph cut to the statement limit, a note for each one cut."""
    out, number = [], 0
    for turn in turns:
        paras = []
        for para in turn.paragraphs:
            number += 1
            text, length = cap_paragraph(para)
            if length > len(text):
                notes.append(f"paragraph {number} cut from {length:,} to {len(text):,} characters "
                             f"(the limit for one statement)")
            paras.append(text)
        out.append(Turn(turn.speaker_raw, tuple(paras)))
    return tuple(out)


def read_bytes(data: bytes, path: str, fmt: str = "auto", source: str | None = None,
               default_source: str | None = None) -> ReadResult:
    """Read one file's bytes. Raises InputError when the whole file is refused.

    ``source`` overrides what the reader finds; ``default_source`` only fills a missing one.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if len(data) > MAX_BYTES:
        raise _too_big(path, len(data))
    file_hash = content_hash(data)
    notes: list[str] = []
    text = decode(data, path, notes)
    fmt = detect(text, path) if fmt == "auto" else fmt
    result = ReadResult(path=path, file_hash=file_hash, format=fmt, notes=notes)
    if fmt in ("jsonl", "csv"):
        docs, result.problems = records.read(text, path, fmt)
        for d in docs:
            d["source"] = source or d["source"] or default_source or "unspecified"
            result.notes.extend(d.pop("notes", []))
            # Each group of records is its own document, keyed by the file's hash and the group.
            doc_id = hashlib.sha256(f"{file_hash}|{d['key']}".encode()).hexdigest()[:16]
            result.documents.append(_doc(path, doc_id, "records", d, result.notes))
        return result
    module = {"plain": plain, "stenographic": stenographic, "briefing": briefing}[fmt]
    d = module.read(text, path)
    result.notes.extend(d.pop("notes", []))
    if source:
        d["source"] = source
    if not d["source"]:
        d["source"] = default_source or "unspecified"
    result.documents.append(_doc(path, file_hash, fmt, d, result.notes))
    return result


def _too_big(path: str, size: int) -> InputError:
    return InputError(path, f"file is {size / 2**20:.0f} MB, over the {MAX_BYTES // 2**20} MB limit for one "
                            "transcript: split it (e.g. one file a day)")


_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def check_stat(path: str, info: os.stat_result) -> None:
    """Refuse, before reading, what cannot be a transcript: anything but a regular file (a FIFO
    would wait for a writer forever, a device never end) and a file over MAX_BYTES (a sparse
    file of gigabytes would be read into memory)."""
    if not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise InputError(path, "is a folder, not a file")
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "special file")
        raise InputError(path, f"not a regular file ({kind})")
    if info.st_size > MAX_BYTES:
        raise _too_big(path, info.st_size)


def read_file(path: str) -> bytes:
    """The bytes of one input file, checked first with ``check_stat`` (on the opened file, so it
    cannot be swapped in between) and never more than MAX_BYTES of them."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just after).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise InputError(path, "file not found") from exc
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    with open(fd, "rb") as fh:
        try:
            check_stat(path, os.fstat(fd))
            data = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_BYTES:  # it grew after the check
        raise _too_big(path, len(data))
    return data


def read_path(path: str | os.PathLike, fmt: str = "auto", source: str | None = None) -> ReadResult:
    """Read one file from disk."""
    p = str(path)
    return read_bytes(read_file(p), p, fmt, source, folder_source(Path(p).parent))


def folder_source(folder: Path) -> str | None:
    """A folder may name the source of the plain transcripts and records in it: a file SOURCE."""
    f = folder / "SOURCE"
    try:
        return f.read_text(encoding="utf-8").strip().splitlines()[0].strip() or None if f.is_file() else None
    except (OSError, UnicodeDecodeError, IndexError):
        return None


def walk_refusal(exc: OSError) -> InputError:
    """The refusal of a folder that ``os.walk`` could not list (what its ``onerror`` is given)."""
    return InputError(os.fsdecode(exc.filename) if exc.filename is not None else "?",
                      f"cannot list folder: {exc.strerror or exc}")


def iter_files(paths: list[str]) -> tuple[list[str], list[InputError]]:
    """Expand files and folders (recursively, following no symlink loops) into input files.

    Inside folders only files with a known suffix are taken, and hidden files, manifests and
    licence files are skipped; a file named explicitly is always taken.
    """
    files: list[str] = []
    problems: list[InputError] = []
    seen_dirs: set[tuple[int, int]] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            problems.append(InputError(raw, "path does not exist"))
            continue
        if p.is_file():
            files.append(str(p))
            continue
        if not p.is_dir():  # named explicitly but neither a file nor a folder (/dev/zero, a FIFO)
            try:
                check_stat(raw, os.stat(raw))
            except InputError as exc:
                problems.append(exc)
            except OSError as exc:
                problems.append(InputError(raw, f"cannot read: {exc.strerror or exc}"))
            continue
        # A folder that cannot be listed (no read permission) is refused, not skipped in silence.
        for root, dirs, names in os.walk(p, followlinks=True, onerror=lambda e: problems.append(walk_refusal(e))):
            st = os.stat(root)
            if (st.st_dev, st.st_ino) in seen_dirs:
                problems.append(InputError(root, "symlink loop: folder already visited, skipped"))
                dirs[:] = []
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                fp = Path(root) / name
                if name.startswith(".") or fp.suffix.lower() not in SUFFIXES:
                    continue
                if name.lower() in ("manifest.csv", "readme.md", "notice.md", "license.md", "notice"):
                    continue
                files.append(str(fp))
    return files, problems
