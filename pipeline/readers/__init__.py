"""Readers turn one input file into Documents. ``read_path`` detects the format.

One module per format, each declaring its ``Reader`` (pipeline/readers/common.py): a name, how to
sniff the format, how to read it (text in, ``Parsed`` out), its file suffixes and its speaker-label
convention. ``REGISTRY`` lists them; the --format choices, the detection order, the suffixes taken
from folders and the dispatch all come from it, so a new format is one module and one line here.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import InputError, UsageError
from pipeline.readers import briefing, plain, records, stenographic
from pipeline.readers.common import (
    MAX_STATEMENT_CHARS,
    ParsedDocument,
    Reader,
    cap_paragraph,
    content_hash,
    decode,
    not_a_date,
)
from pipeline.stages import Document, Turn

# Every format, in the order --format lists them.
REGISTRY: tuple[Reader, ...] = (plain.READER, stenographic.READER, briefing.READER, records.JSONL, records.CSV)
READERS = {r.name: r for r in REGISTRY}
FORMATS = ("auto", *READERS)
DETECTION_ORDER = tuple(sorted(REGISTRY, key=lambda r: r.rank))
SUFFIXES = {s for r in REGISTRY for s in r.suffixes}  # what is taken from folders
# Files larger than this are refused: transcripts are kilobytes, a 100 MB "transcript" is a mistake.
MAX_BYTES = 50 * 1024 * 1024


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
    for reader in REGISTRY:
        if reader.suffix_decides and suffix in reader.suffixes:
            return reader.name
    for reader in DETECTION_ORDER:
        if reader.sniff(text):
            return reader.name
    wrong = not_a_date(next((x for x in text.split("\n") if x.strip()), ""), path)
    if wrong:  # 'FEBRUARY 31, 2026': a plain transcript with an impossible date
        raise wrong
    shapes = list(dict.fromkeys(r.shape for r in REGISTRY))
    raise InputError(path, f"unknown format: not {', '.join(shapes[:-1])} or {shapes[-1]}; use --format to say which")


def _document(path: str, doc_id: str, reader: Reader, parsed: ParsedDocument, source: str,
              notes: list[str]) -> Document:
    turns = parsed.turns
    if any(len(p) > MAX_STATEMENT_CHARS for t in turns for p in t.paragraphs):
        turns = _capped(turns, notes)
    return Document(doc_id=doc_id, path=path, format=reader.kind or reader.name, date=parsed.date, source=source,
                    lang=parsed.lang, title=parsed.title, url=parsed.url, turns=turns,
                    convention=reader.convention)


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
    reader = READERS[detect(text, path) if fmt == "auto" else fmt]
    parsed = reader.read(text, path)
    result = ReadResult(path=path, file_hash=file_hash, format=reader.name, notes=notes, problems=parsed.problems)
    for doc in parsed.documents:
        result.notes.extend(doc.notes)
        # A file that holds several documents (records) keys each by the file's hash and its group.
        doc_id = hashlib.sha256(f"{file_hash}|{doc.key}".encode()).hexdigest()[:16] if doc.key else file_hash
        result.documents.append(_document(path, doc_id, reader, doc, source or doc.source or default_source
                                          or "unspecified", result.notes))
    return result


def _too_big(path: str, size: int) -> InputError:
    return InputError(path, f"file is {size / 2**20:.0f} MB, over the {MAX_BYTES // 2**20} MB limit for one "
                            "transcript: split it (e.g. one file a day)")


_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words ('character device', 'FIFO')."""
    return next((name for test, name in _KINDS if test(mode)), "special file")


def file_above(path: str | os.PathLike) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is a file, not a folder (``notes.txt`` of
    ``notes.txt/x.csv``), else None: making or writing the path would fail with only "Not a
    directory", and the file is what to name."""
    above = next((q for q in Path(path).parents if q.exists()), None)
    return above if above is not None and not above.is_dir() else None


def check_stat(path: str, info: os.stat_result) -> None:
    """Refuse, before reading, what cannot be a transcript: anything but a regular file (a FIFO
    would wait for a writer forever, a device never end) and a file over MAX_BYTES (a sparse
    file of gigabytes would be read into memory)."""
    if not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise InputError(path, "is a folder, not a file")
        raise InputError(path, f"not a regular file ({file_kind(info.st_mode)})")
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
            st = os.fstat(fd)
            check_stat(path, st)
            # As many bytes as the file has (and one more, to see it grow): read(MAX_BYTES + 1)
            # allocates 50 MB for every file before it shrinks the buffer, a quarter of a second of
            # a cold run's CPU.
            data = fh.read(min(st.st_size, MAX_BYTES) + 1)
            if len(data) > st.st_size:  # it grew since fstat (or says it is empty, as /proc files do)
                data += fh.read(MAX_BYTES + 1 - len(data))
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


def link_refusal(path: str) -> InputError | None:
    """The refusal of a symlink that leads nowhere: one pointing to itself (or round a loop of
    links, ELOOP) or to a missing target; None for anything else."""
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return InputError(path, "symlink loop: the link leads back to itself, skipped")
        return InputError(path, f"broken symlink: {exc.strerror or exc}")
    return None


SKIPPED_NAMES = ("manifest.csv", "readme.md", "notice.md", "license.md", "notice")


def iter_files(paths: list[str], skipped: list[str] | None = None) -> tuple[list[str], list[InputError]]:
    """Expand files and folders (recursively, following no symlink loops) into input files.

    Inside folders only files with a known suffix are taken, and hidden files, manifests and
    licence files are skipped; a file named explicitly is always taken. Files of no known suffix
    are added to ``skipped`` when given; a symlink that leads nowhere, and an input folder that
    holds no file to take, are refused.
    """
    files: list[str] = []
    problems: list[InputError] = []
    seen_dirs: set[tuple[int, int]] = set()
    for raw in paths:
        p = Path(raw)
        try:
            exists = p.exists()
        except OSError as exc:  # a name too long for the file system: nothing there to read
            problems.append(InputError(raw, f"cannot read: {exc.strerror or exc}"))
            continue
        if not exists:
            problems.append(link_refusal(raw) or InputError(raw, "path does not exist"))
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
        taken, unknown = len(files), []
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
                if name.startswith(".") or name.lower() in SKIPPED_NAMES:
                    continue
                if fp.suffix.lower() not in SUFFIXES:
                    # (os.walk lists a link it cannot follow among the files, whatever its name)
                    refusal = link_refusal(str(fp))
                    if refusal is not None:
                        problems.append(refusal)
                    elif name != "SOURCE":
                        unknown.append(str(fp))
                    continue
                files.append(str(fp))
        if skipped is not None:
            skipped.extend(unknown)
        if len(files) == taken:
            other = f"; {len(unknown)} file{'s' if len(unknown) != 1 else ''} of other types skipped" if unknown else ""
            problems.append(InputError(raw, f"no file to read in this folder (read are {', '.join(sorted(SUFFIXES))}"
                                            f"{other})"))
    return files, problems
