"""What every reader needs: the reader interface (``Reader``, what it returns), decoding bytes to
text, parsing dates, hashing content, guessing the language."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import InputError
from pipeline.stages import Turn


@dataclass
class ParsedDocument:
    """One document as a reader found it, before it has an id: its fields and its turns."""

    date: dt.date
    turns: tuple[Turn, ...]
    lang: str
    title: str = ""
    source: str = ""  # empty: the file does not say (--source, a SOURCE file or 'unspecified' fill it)
    url: str = ""
    # Tells apart the documents of one file (records: date, source, title and url); part of their
    # id. Empty for a file that is one document (its id is the file's hash).
    key: str = ""
    notes: list[str] = field(default_factory=list)  # accepted, but worth a look


@dataclass
class Parsed:
    """What a reader made of one file: its documents, and the problems with single lines of it."""

    documents: list[ParsedDocument]
    problems: list[InputError] = field(default_factory=list)


@dataclass(frozen=True)
class Reader:
    """One input format, registered in ``pipeline.readers.REGISTRY``."""

    name: str  # the --format value
    sniff: Callable[[str], bool]  # does this text look like the format?
    read: Callable[[str, str], Parsed]  # (text, path) -> Parsed; InputError refuses the whole file
    shape: str  # how the format looks, for the message about a file no reader recognises
    # Detection tries the readers by rank, lowest first: the most particular shape before the more
    # general ones it also matches (front matter and header blocks may start with a date line).
    rank: int
    suffixes: tuple[str, ...]  # file name endings taken from folders for this format
    suffix_decides: bool = False  # a file with one of the suffixes is read as this format, unsniffed
    kind: str = ""  # the documents' format in the store, when not ``name`` (jsonl and csv are 'records')
    # How the documents' speaker labels are written (``Document.convention``): the speaker rules are
    # chosen by it, never by the source name a user may give.
    convention: str = ""

# Dates more than this far in the future are refused: a typo, not a transcript.
FUTURE_SLACK_DAYS = 2
# Longer paragraphs are cut to this many characters. Real ones stay under 2,000 (the longest line
# of the whole corpus is 1,766); a 40 MB "paragraph" is a broken file, and tagging it whole took
# gigabytes of memory.
MAX_STATEMENT_CHARS = 20_000

SPANISH_MONTHS = {
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
}
ENGLISH_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}

_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_ES = re.compile(r"\b(\d{1,2})\s*(?:°|º|o\.)?\s+de\s+([a-z]+)\s+(?:de|del)\s+(\d{4})\b")
_EN_MDY = re.compile(r"\b([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_EN_DMY = re.compile(r"\b(\d{1,2})\s+([a-z]+)\.?,?\s+(\d{4})\b")


def json_fault(exc: json.JSONDecodeError) -> str:
    """Why a line is not JSON, as one phrase with its column: json's own message without its
    position ("Unterminated string starting at") stopped before saying where."""
    at = "" if exc.msg.endswith(" at") else " at"
    return f"not valid JSON ({exc.msg}{at} column {exc.colno})"


def content_hash(data: bytes) -> str:
    """The document id: the first 16 hex digits of the SHA-256 of the file's bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


def fold(text: str) -> str:
    """Lower-case and strip accents: 'MÉXICO' -> 'mexico'. Punctuation is kept: for matching dates,
    headers and speaker labels (the tagger's ``pipeline.tagger.text.normalise`` also drops it)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Bytes that are not UTF-8, as the "surrogateescape" error handler shows them; and characters that
# took more than one byte of valid UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_MULTIBYTE = re.compile("[^\x00-\x7f\udc80-\udcff]")


def decode(data: bytes, path: str, notes: list[str] | None = None) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with its BOM, else Windows-1252; binaries
    are refused.

    Text that is not all valid UTF-8 is decided by evidence: when its valid multi-byte UTF-8
    sequences outnumber the bytes that are not UTF-8, it is UTF-8 with a few bad bytes (they
    become U+FFFD and ``notes`` gets a line saying how many); otherwise it is Windows-1252, whose
    accented letters are single bytes that are seldom valid UTF-8.
    """
    if not data.strip():
        raise InputError(path, "empty file: nothing to read")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not data.startswith(codecs.BOM_UTF32_LE):
        # Windows editors save "Unicode" text as UTF-16 with this mark; its NUL bytes are no binary.
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not valid UTF-16 text, though it starts with its byte-order mark "
                                   f"(byte {exc.start})") from exc
    if b"\x00" in data[:8192]:
        raise InputError(path, "binary file (contains NUL bytes): not a text transcript")
    if data.startswith(b"%PDF"):
        raise InputError(path, "PDF file: extract its text first (e.g. pdftotext) and ingest the .txt")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _mostly_utf8(data, notes)
    if text is None:
        try:
            # Legacy Windows exports are common; cp1252 is a superset of Latin-1's printable range.
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not valid UTF-8 or Windows-1252 text (byte {exc.start})") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    head = text.lstrip()[:200].lower()
    if head.startswith("<!doctype html") or head.startswith("<html"):
        raise InputError(path, "HTML page: save the page as text (or as records) and ingest that")
    return text


def _mostly_utf8(data: bytes, notes: list[str] | None) -> str | None:
    """The text of UTF-8 with a few bad bytes, or None when the evidence says Windows-1252."""
    mixed = data.decode("utf-8", "surrogateescape")
    bad = len(_NOT_UTF8.findall(mixed))
    if len(_MULTIBYTE.findall(mixed)) <= bad:
        return None
    if notes is not None:
        which = "that byte" if bad == 1 else "those bytes"
        notes.append(f"not valid UTF-8 in {bad} byte{'s' * (bad != 1)}, read as UTF-8 with {which} "
                     "replaced by \ufffd")
    return _NOT_UTF8.sub("\ufffd", mixed.removeprefix("\ufeff"))


def _make(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def parse_date(text: str) -> dt.date | None:
    """Find a date in a short piece of text: ISO, Spanish ('12 de enero de 2026') or English."""
    s = fold(text)
    m = _ISO.search(s)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _ES.search(s)
    if m and m.group(2) in SPANISH_MONTHS:
        return _make(int(m.group(3)), SPANISH_MONTHS[m.group(2)], int(m.group(1)))
    for m in _EN_MDY.finditer(s):
        if m.group(1) in ENGLISH_MONTHS:
            return _make(int(m.group(3)), ENGLISH_MONTHS[m.group(1)], int(m.group(2)))
    for m in _EN_DMY.finditer(s):
        if m.group(2) in ENGLISH_MONTHS:
            return _make(int(m.group(3)), ENGLISH_MONTHS[m.group(2)], int(m.group(1)))
    return None


def date_shaped(text: str) -> bool:
    """True when the text has the shape of a date (ISO, or a real month's name with a day and a
    year), whether or not its numbers make one: 'FEBRUARY 31, 2026' is date-shaped, not a date."""
    s = fold(text)
    if _ISO.search(s):
        return True
    m = _ES.search(s)
    if m and m.group(2) in SPANISH_MONTHS:
        return True
    return (any(m.group(1) in ENGLISH_MONTHS for m in _EN_MDY.finditer(s))
            or any(m.group(2) in ENGLISH_MONTHS for m in _EN_DMY.finditer(s)))


def not_a_date(line: str, path: str) -> InputError | None:
    """The refusal of a first line that looks like a date but is none (so the file is not called
    'unknown format'); None when the line is a date or does not look like one."""
    line = line.strip()
    if len(line) <= 80 and parse_date(line) is None and date_shaped(line):
        return InputError(path, f"not a date: {line}")
    return None


def check_date(date: dt.date | None, path: str, what: str, today: dt.date | None = None) -> dt.date:
    """Refuse a missing date, or one in the future, naming the file. ``what``: where the date was
    looked for, said in parentheses (nothing when empty)."""
    said = f" ({what})" if what else ""
    if date is None:
        raise InputError(path, f"no date found{said}")
    today = today or dt.date.today()
    if date > today + dt.timedelta(days=FUTURE_SLACK_DAYS):
        raise InputError(path, f"date {date.isoformat()} is in the future{said}")
    if date.year < 1900:
        raise InputError(path, f"date {date.isoformat()} is implausibly old{said}")
    return date


def cap_paragraph(text: str) -> tuple[str, int]:
    """A paragraph cut to MAX_STATEMENT_CHARS (at the last space of its last 1,000 characters when
    there is one), and its length before."""
    if len(text) <= MAX_STATEMENT_CHARS:
        return text, len(text)
    cut = text[:MAX_STATEMENT_CHARS]
    space = cut.rfind(" ", MAX_STATEMENT_CHARS - 1000)
    return (cut[:space] if space > 0 else cut), len(text)


# Runs of spaces (non-breaking ones too) become one space. A lone plain space, by far the most
# common match, is left out of the pattern: replacing it by itself made every word a substitution.
# Written as "a space-like character, then more of them or (it being no plain space) nothing", the
# same matches as "two or more | one that is not a plain space": a pattern that opens with a
# character set lets the regex engine skip to the next space-like character instead of trying
# both alternatives at every character (2.2x faster over the corpus).
_SPACES = re.compile(r"[ \t\u00a0\u2009\u202f](?:[ \t\u00a0\u2009\u202f]+|(?<=[\t\u00a0\u2009\u202f]))")
_ES_WORDS = re.compile(r"\b(que|los|las|del|para|por|una|con|está|también|nosotros)\b", re.I)
_EN_WORDS = re.compile(r"\b(the|and|that|with|for|this|have|are|was|we)\b", re.I)


_SPACE_LIKE = ("\t", "\u00a0", "\u2009", "\u202f")
_SPACE_RUN = re.compile("  +")


def clean_line(line: str) -> str:
    """Collapse runs of spaces (including non-breaking ones) and trim."""
    return _SPACES.sub(" ", line).strip()


def clean_lines(text: str) -> list[str]:
    """``clean_line`` of each line of a text.

    ``_SPACES`` makes every run of spaces, tabs and non-breaking or thin spaces one space. So do
    these steps, each a search in C: the other space-like characters become spaces (most texts have
    none), then runs of spaces one (``"  " in text`` first: a text seldom has any). The readers
    clean every line of every file: 1.8 s -> 0.8 s over the corpus, the same lines (a test holds
    the two to each other).
    """
    for c in _SPACE_LIKE:
        if c in text:
            text = text.replace(c, " ")
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    return [x.strip() for x in text.split("\n")]


def guess_lang(text: str) -> str:
    """'es' or 'en', by counting common function words; enough for these two languages."""
    sample = text[:5000]
    return "es" if len(_ES_WORDS.findall(sample)) > len(_EN_WORDS.findall(sample)) else "en"
