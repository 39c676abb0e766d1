"""A skops file made reproducible: the same fitted model gives the same bytes, hence the same version.

skops names each array file and memo entry after ``id()`` of the object (memory addresses, new in
every process) and stamps zip entries with the time of writing; so two fits of the same labels gave
two model versions. Here the ids are renumbered in order of first appearance in the schema, the
array files renamed to match, and the entries written in name order with a fixed timestamp.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

_ID = re.compile(rb'"__id__": (\d+)')
_NUMBER = re.compile(rb"(?<![\d.])\d{6,}(?!\d|\.\d)")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def canonicalise(path: Path) -> None:
    """Rewrite the skops file at ``path`` in its canonical form (in place, atomically)."""
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    schema = entries.pop("schema.json")
    order: dict[bytes, bytes] = {}
    for m in _ID.finditer(schema):
        order.setdefault(m.group(1), str(len(order) + 1).encode())
    # Every whole number that is an id (as an __id__, a file name or a reference), in one pass.
    schema = _NUMBER.sub(lambda m: order.get(m.group(), m.group()), schema)
    renamed = {}
    for name, data in entries.items():
        stem, dot, ext = name.partition(".")
        renamed[(order.get(stem.encode(), stem.encode()).decode() + dot + ext)] = data
    renamed["schema.json"] = schema
    tmp = path.with_name(path.name + ".canon")
    with zipfile.ZipFile(tmp, "w") as out:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, renamed[name], compresslevel=9)
    tmp.replace(path)
