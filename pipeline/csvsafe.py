"""CSV that a spreadsheet opens as data: the one place every CSV writer of the project goes through.

A statement or speaker that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return) would run as a formula when the file is opened in Excel, LibreOffice or Google Sheets.
Following OWASP's advice on CSV injection, such a text cell gets a leading single quote (shown
by the spreadsheet, which then takes the cell as text) and every text cell is quoted, embedded
quotes doubled, so that no cell can be split into a new one that starts a formula. Numbers are
left as they are. JSON Lines exports stay raw.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_BYTES = tuple(c.encode() for c in FORMULA_START)


def neutralise(value: Any) -> Any:
    """``value`` with a leading single quote if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def quoted_cell(value: str | None) -> str:
    """One text cell exactly as ``Writer`` writes it: neutralised, quoted, quotes doubled (None: an
    empty quoted cell). For writers that build whole lines themselves, for speed."""
    if value is None:
        return '""'
    return '"' + neutralise(value).replace('"', '""') + '"'


def quoted_bytes(value: bytes | None) -> bytes:
    """``quoted_cell`` of UTF-8 text as bytes, for writers that copy text from the store without
    decoding it (and encoding it again)."""
    if value is None:
        return b'""'
    if value.startswith(_FORMULA_BYTES):
        value = b"'" + value
    return b'"' + value.replace(b'"', b'""') + b'"'


class Writer:
    """A ``csv.writer`` that neutralises every cell and quotes every text cell."""

    def __init__(self, fh: IO[str]) -> None:
        self._w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)

    def writerow(self, row: Iterable[Any]) -> None:
        # QUOTE_NONNUMERIC would write None as a quoted empty string anyway; say so explicitly.
        self._w.writerow(["" if v is None else neutralise(v) for v in row])


def frame_to_csv(df: pd.DataFrame) -> bytes:
    """A DataFrame as UTF-8 CSV bytes (for downloads), its text cells neutralised and quoted."""
    import pandas as pd
    out = df.copy()
    for col in out.columns:
        # Text lives in object or (pandas 3) string columns; numbers and dates are left alone.
        if pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")
