"""One writer per store: an exclusive lock held for a whole run (reading, storing, snapshots).

Two runs at once would both find every file new, mark each other's run interrupted and race on
the snapshot folders; SQLite alone serialises their transactions, not their decisions. The lock
is ``flock`` on a file beside the database (``tracker.db.lock``), so the kernel releases it when
the holder dies however it dies: a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import StoreBusyError, StoreError
from pipeline.store import db_path, writable_folder

POLL_SECONDS = 0.1

# Locks this process holds, by lock file: taking one again (cli around ingest.run) nests.
_held: dict[str, int] = {}


def lock_path(store: str | os.PathLike) -> Path:
    """The lock file of a store."""
    db = db_path(store)
    return db.with_name(db.name + ".lock")


def _holder(fd: int) -> str:
    """The process id the holder wrote into the lock file (or '?' while it is being written)."""
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
    except OSError:
        return "?"


@contextmanager
def writer_lock(store: str | os.PathLike, timeout: float | None = None,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the store's writer lock inside the block; re-entrant within a process.

    When another process holds it, ``on_wait`` is told once whom we wait for; after ``timeout``
    seconds (``None``: no limit) ``StoreBusyError`` is raised, naming the holder.
    """
    path = lock_path(store)
    writable_folder(store)  # a file, or a folder that cannot be made or written: say so, by name
    key = str(path.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the store's lock file ({exc.strerror or exc})") from exc
    try:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if timeout is not None and time.monotonic() - start >= timeout:
                    raise StoreBusyError(f"{db_path(store).parent}: another run (process {holder}) is writing "
                                         f"to this store; gave up waiting after {timeout:g} s") from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for run in process {holder} to finish…")
                    told = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
