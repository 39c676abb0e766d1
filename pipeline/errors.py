"""Small named exceptions. The shells (CLI, dashboard) turn them into exit codes or messages."""

from __future__ import annotations


class TrackerError(Exception):
    """Base class of every error this project raises on purpose."""


class UsageError(TrackerError):
    """The user asked for something that cannot be done as asked (exit status 2)."""


class InputError(TrackerError):
    """One input file (or one line of it) is refused; the run goes on with the rest."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable across worker processes
        return (InputError, (self.path, self.reason, self.line))


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill PID`, a scheduler's time limit): the command stops as on Ctrl-C, cleaning up."""


class StoreError(TrackerError):
    """The store cannot be opened or is not a store of this project."""


class ModelError(TrackerError):
    """The tagger model or the topics file is missing, unreadable or inconsistent."""


class StoreBusyError(StoreError):
    """Another run holds the store's writer lock and the wait for it timed out (exit status 1)."""


class SnapshotError(TrackerError):
    """Weekly snapshots cannot be written where asked (an unwritable folder, another store's)."""


class OutputError(TrackerError):
    """An output file the user named cannot be written (no permission, a read-only or full disk)."""
