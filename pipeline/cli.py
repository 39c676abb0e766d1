"""The command line: parse arguments, call the core, print. Exit 0 ok, 2 usage, 3 refused files."""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import json
import os
import re
import select
import signal
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO

from pipeline import settings
from pipeline.errors import InputError, ModelError, OutputError, StoreError, Terminated, TrackerError, UsageError
from pipeline.readers import FORMATS

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


# What must not reach a terminal raw: C0/C1 control characters (ANSI escape sequences start with
# one), bidirectional overrides that reorder the line, and lone surrogates (bytes of a file name
# that are not UTF-8), which cannot even be encoded for output.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(m: re.Match) -> str:
    n = ord(m.group())
    if 0xDC80 <= n <= 0xDCFF:  # a byte of a name that is not UTF-8: the byte itself
        return f"\\x{n - 0xDC00:02x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def shown(text: object) -> str:
    """Text safe to print: control characters and undecodable bytes as repr-style escapes
    (``\\x1b``). Only for display; the store keeps the real names."""
    return _UNSAFE.sub(_escape, str(text))


def _json_text(obj: object) -> str:
    """JSON for standard output: readable accents, but no raw control character or lone surrogate
    (JSON escapes C0 itself; DEL, C1, bidirectional overrides and surrogates get \\uXXXX here)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {s!r}") from exc


def _path(s: str) -> str:
    """A path argument; an empty one (`--input "$UNSET"`) would be the current folder."""
    if not s:
        raise argparse.ArgumentTypeError("empty path")
    return s


def _positive(s: str) -> int:
    try:
        n = int(s)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {s!r}")
    return n


def _count(s: str) -> int:
    """A whole number of things, 0 included (a negative one made a slice from the end)."""
    try:
        n = int(s)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"not a whole number of 0 or more: {s!r}")
    return n


def _capped(n: int, limit: int, why: str) -> int:
    """``n`` when it is at most ``limit``; else an argument error saying ``why``."""
    if n > limit:
        raise argparse.ArgumentTypeError(why)
    return n


def _processes(s: str) -> int:
    """A number of worker processes, at most the machine's processors (2 at least, the default):
    more only share the same cores, and each holds a model or the training features in memory
    (``--workers 1000`` started a thousand)."""
    limit = max(2, os.cpu_count() or 1)
    return _capped(_positive(s), limit, f"{s!r} is more processes than this machine's {limit} processors")


def _jobs(s: str) -> int:
    """``--jobs``, whose default is the TOPICS_JOBS setting: a bad value says where it came from
    (the user may have typed no --jobs)."""
    try:
        return _processes(s)
    except argparse.ArgumentTypeError as exc:
        env = settings.SETTINGS["jobs"].env
        if os.environ.get(env) == s:
            raise argparse.ArgumentTypeError(f"{exc} (set by {env})") from exc
        raise


def _queue_batch(s: str) -> int:
    """A review batch: 1 to QUEUE_MAX statements (each is compared with every one picked before it,
    so 100,000 ran for many minutes)."""
    from pipeline.labelling import QUEUE_MAX

    return _capped(_positive(s), QUEUE_MAX,
                   f"at most {QUEUE_MAX} statements a batch, not {s!r} (label them, then ask for the next)")


def _replications(s: str) -> int:
    """Bootstrap replications: 0 to MAX_IRF_REPS (memory grows with them: 20,000 took 2.5 GB)."""
    from pipeline.leadlag import MAX_IRF_REPS

    return _capped(_count(s), MAX_IRF_REPS, f"at most {MAX_IRF_REPS} replications, not {s!r} "
                   "(the default 200 already gives stable 95 % bands)")


def _at_least_two(s: str) -> int:
    n = _positive(s)
    if n < 2:
        raise argparse.ArgumentTypeError(f"cross-validation needs at least 2 folds, not {s!r}")
    return n


def _seconds(s: str) -> float:
    try:
        n = float(s)
    except ValueError:
        n = -1.0
    if not n >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"not a number of seconds: {s!r}")
    return n


LABELS_HELP = "folder of labelled *.jsonl (default: the labels setting, $TOPICS_LABELS, else pipeline/labels)"


def _setting_help(name: str) -> str:
    """An option's help when a setting gives its default: the setting's meaning, its variable and default."""
    s = settings.SETTINGS[name]
    default = Path(s.default)
    shown = default.relative_to(settings.ROOT) if default.is_relative_to(settings.ROOT) else default
    return f"{s.help} Default: ${s.env} or {shown}."


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=_path, default=settings.get("store"), help=_setting_help("store"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep one message shape
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m pipeline", description="Topic tracker for political statements.")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="ingest files and folders into the store (only new or changed files)")
    p.add_argument("--input", nargs="+", type=_path, required=True, metavar="PATH", help="files or folders (recursive)")
    _store_arg(p)
    p.add_argument("--format", choices=FORMATS, default="auto", help="reader to use (default: detect)")
    p.add_argument("--source", default=None, help="source name to record (default: from the reader)")
    p.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    p.add_argument("--topics", type=_path, default=settings.get("topics"), help=_setting_help("topics"))
    p.add_argument("--workers", type=_processes, default=None, help="processes for reading and tagging (default 2)")
    p.add_argument("--no-snapshots", action="store_true", help="do not write weekly snapshots at the end")
    p.add_argument("--rehash", action="store_true",
                   help="hash every file even when its size and modification time are unchanged")
    p.add_argument("--lock-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="when another run is writing to the store, wait at most this long, then exit 1 "
                        "(default: wait until it finishes)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("status", help="what the store holds and the last runs")
    _store_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("export", help="write every stored statement (JSON Lines or CSV by extension)")
    _store_arg(p)
    p.add_argument("--output", required=True,
                   help="FILE.jsonl or FILE.csv, by extension in any case ('-' for JSON Lines on stdout)")
    p.add_argument("--since", type=_date, help="first date (YYYY-MM-DD)")
    p.add_argument("--until", type=_date, help="last date (YYYY-MM-DD)")

    p = sub.add_parser("tag", help="tag statements without storing them")
    p.add_argument("--input", required=True, help="JSON Lines {id, text, lang?} or plain text lines; '-' = stdin")
    p.add_argument("--output", required=True, help="JSON Lines out; '-' = stdout")
    p.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    p.add_argument("--explain", action="store_true", help="add the terms that drove each topic")

    p = sub.add_parser("train", help="rebuild the tagger from the labelled set and the topics file")
    p.add_argument("--labels", type=_path, default=None, help=LABELS_HELP)
    p.add_argument("--topics", type=_path, default=settings.get("topics"), help=_setting_help("topics"))
    p.add_argument("--output", default=settings.get("model"),
                   help="model file to write (default: $TOPICS_MODEL or pipeline/models/tagger.skops)")
    p.add_argument("--jobs", type=_jobs, default=settings.get("jobs"), help=_setting_help("jobs"))
    p.add_argument("--with-log", action="store_true",
                   help="also train on the store's label log (written to LABELS/corrections.jsonl first; texts of "
                        "the audit sample and the evaluation set left out)")
    _store_arg(p)

    p = sub.add_parser("retrain", help="train with the label log, evaluate old and new model, and re-tag the store "
                                       "beside the served tags (swapped in when complete)")
    _store_arg(p)
    p.add_argument("--labels", type=_path, default=None, help=LABELS_HELP)
    p.add_argument("--topics", type=_path, default=settings.get("topics"), help=_setting_help("topics"))
    p.add_argument("--model", type=_path, default=settings.get("model"),
                   help="model file to replace (default: $TOPICS_MODEL or pipeline/models/tagger.skops)")
    p.add_argument("--gold", default=None, help="evaluation set, scored before and after (default "
                   "$TOPICS_SHARED/labels/dev.jsonl, skipped when absent; a file named here must exist)")
    p.add_argument("--jobs", type=_jobs, default=settings.get("jobs"), help=_setting_help("jobs"))

    p = sub.add_parser("labels", help="the label log: export its labels, or list the uncertainty queue")
    lsub = p.add_subparsers(dest="labels_command", required=True, parser_class=_Parser)
    q = lsub.add_parser("export", help="the log's current labels as labelled statements (JSON Lines)")
    _store_arg(q)
    q.add_argument("--output", required=True, help="FILE.jsonl ('-' for standard output)")
    q = lsub.add_parser("queue", help="the statements the model is least sure about for a topic")
    _store_arg(q)
    q.add_argument("--topic", required=True, help="a topic of the model")
    q.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    q.add_argument("--batch", type=_queue_batch, default=20, help="how many (default 20, at most 1000)")

    p = sub.add_parser("evaluate", help="precision/recall/F1 against gold labels, vs a keyword baseline")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--gold", help="JSON Lines with text, topics and lang")
    g.add_argument("--cv", type=_at_least_two, metavar="FOLDS",
                   help="instead: cross-validate on the labelled set (each fold tagged by a model trained "
                        "on the others; how to measure a topic you added without a gold set)")
    g.add_argument("--since", type=_date, metavar="DATE",
                   help="instead: train on the labelled statements dated before DATE and measure on those "
                        "from DATE on (how the tagger holds up on later statements)")
    p.add_argument("--labels", type=_path, default=None, help="with --cv or --since: " + LABELS_HELP)
    p.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    p.add_argument("--topics", type=_path, default=settings.get("topics"), help=_setting_help("topics"))
    p.add_argument("--errors", type=_count, default=10, help="how many confident errors to list (0: none)")
    p.add_argument("--jobs", type=_jobs, default=settings.get("jobs"), help=_setting_help("jobs"))
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("snapshot", help="write frozen weekly snapshots")
    _store_arg(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--week", help="ISO week, e.g. 2026-W03 (a completed one: its Sunday before today)")
    g.add_argument("--all", action="store_true",
                   help="every completed week with statements that has no snapshot yet")
    p.add_argument("--out", default=None,
                   help="folder (default: $TOPICS_SNAPSHOTS, else 'snapshots' inside the store folder); "
                        "a folder holds the snapshots of one store")
    p.add_argument("--force", action="store_true", help="rewrite, keeping the previous version beside it")

    p = sub.add_parser("trend", help="statements per period and topic, with shares corrected for the tagger's "
                                     "errors and 95 %% intervals (--corrected)")
    _store_arg(p)
    p.add_argument("--by", choices=["day", "week", "month"], default="week", help="period (default week)")
    p.add_argument("--topic", nargs="+", default=(), metavar="T", help="only these topics")
    p.add_argument("--source", nargs="+", default=(), metavar="S", help="only these sources")
    p.add_argument("--since", type=_date, help="first date (YYYY-MM-DD)")
    p.add_argument("--until", type=_date, help="last date (YYYY-MM-DD)")
    p.add_argument("--corrected", action="store_true",
                   help="add share_corrected, ci_low and ci_high (needs the audit sample)")
    p.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    p.add_argument("--json", action="store_true", help="print JSON (one list of rows)")
    p.add_argument("--cite", action="store_true",
                   help="also print a citation of these numbers (store, models, audit, filters) on stderr")

    p = sub.add_parser("reliability", help="how far each topic's numbers can be trusted: the audit sample's "
                                           "precision, recall, F1, calibration, and drift per source and quarter")
    _store_arg(p)
    p.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    p.add_argument("--no-drift", action="store_true", help="skip the drift check (needs no store)")
    p.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("settings", help="list every setting, its environment variable and value")

    p = sub.add_parser("events", help="spikes: weeks in which a topic comes up far more than usual for a source, "
                                      "with the words and statements that explain them")
    _store_arg(p)
    p.add_argument("--topic", nargs="+", default=(), metavar="T", help="only these topics")
    p.add_argument("--source", nargs="+", default=(), metavar="S", help="only these sources")
    p.add_argument("--since", type=_date, help="only events that end on or after DATE (YYYY-MM-DD)")
    p.add_argument("--raw", action="store_true", help="use raw shares even when an audit sample exists")
    p.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--cite", action="store_true",
                   help="also print a citation of these events (store, models, audit, filters) on stderr")

    p = sub.add_parser("leadlag", help="does one source raise a topic before the other? cross-correlation, "
                                       "Toda-Yamamoto Granger tests and impulse responses on weekly shares")
    _store_arg(p)
    p.add_argument("--topic", nargs="+", default=(), metavar="T", help="only these topics")
    p.add_argument("--a", default="White House", metavar="SOURCE", help="first source (default White House)")
    p.add_argument("--b", default="Mexican presidency", metavar="SOURCE",
                   help="second source (default Mexican presidency)")
    p.add_argument("--raw", action="store_true", help="use raw shares even when an audit sample exists")
    p.add_argument("--bootstrap", type=_replications, default=200, metavar="N",
                   help="bootstrap replications of the impulse responses' bands (0: none; default 200, at most 5000)")
    p.add_argument("--model", type=_path, default=settings.get("model"), help=_setting_help("model"))
    p.add_argument("--json", action="store_true", help="print JSON")
    return ap


# What an interrupted command leaves, where it is more than nothing.
_AFTER_INTERRUPT = {
    "run": ": every file stored so far is complete; run again to finish",
    "train": ": no model written (the model file is replaced only when training ends)",
    "export": ": nothing written (the output file appears only when it is complete)",
}


def _on_sigterm(signum: int, frame) -> None:
    # A second SIGTERM during the clean-up kills at once (the workers end with the process anyway).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated()


class _StdoutError(OutputError):
    """Standard output cannot be written (a full disk, an I/O error); its reader is still there."""


class _Stdout:
    """Standard output whose write errors become ``_StdoutError`` (one line, exit 1) instead of a
    traceback; a reader that went away stays a BrokenPipeError (exit 141)."""

    def __init__(self, stream: IO) -> None:
        self._stream = stream

    def _failed(self, exc: OSError) -> _StdoutError:
        return _StdoutError(f"standard output: cannot be written ({_why(exc)})")

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from exc

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM stops a command the way Ctrl-C does: workers ended, the run logged as interrupted.
    # (Signal handlers can only be set from the main thread; elsewhere the default stays.)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    stdout, sys.stdout = sys.stdout, _Stdout(sys.stdout)
    try:
        _check_dates(args)
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, not at exit: a reader that went away is seen while it can be handled
        return status
    except BrokenPipeError:
        if not _reader_gone():
            raise
        # The reader of the output stopped reading (`| head`): nothing more to say to anyone. Exit
        # as a command ended by SIGPIPE would, and keep the interpreter's last flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # A name over the file system's limit (255 bytes) can neither exist nor be made; pathlib's
        # checks (exists, is_dir) raise this instead of answering, wherever a command takes a path.
        name = os.fsdecode(exc.filename) if exc.filename is not None else "a path"
        print(f"error: {shown(name)}: file name too long", file=sys.stderr)
        return EXIT_USAGE
    except _StdoutError as exc:
        # What is left in the buffer cannot be written either: drop it, or the interpreter's last
        # flush would print its own error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except UsageError as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (StoreError, ModelError, InputError) as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, InputError) else EXIT_ERROR
    except TrackerError as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        sig = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        print(f"interrupted ({sig.name}){_AFTER_INTERRUPT.get(args.command, '')}", file=sys.stderr)
        return 128 + sig  # the shell's convention for "ended by this signal": 130, 143
    finally:
        sys.stdout = stdout
        if in_main:  # (None: the previous handler was not set from Python, i.e. the default)
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _check_dates(args) -> None:
    """UsageError when --since comes after --until (every command that takes both): they would
    select nothing, and an empty answer would read as "no statements then"."""
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None and until is not None and since > until:
        raise UsageError(f"--since {since.isoformat()} is after --until {until.isoformat()}: no date is in "
                         "between (swap them?)")


def _reader_gone() -> bool:
    """Whether standard output or error is a pipe whose reading end was closed (a BrokenPipeError
    from elsewhere, such as a worker's pipe, is a real error)."""
    poll = select.poll()
    for fh in (sys.stdout, sys.stderr):
        try:
            poll.register(fh.fileno(), select.POLLOUT)
        except (OSError, ValueError):
            continue
    return any(events & select.POLLERR for _, events in poll.poll(0))


def _why(exc: OSError) -> str:
    """The reason an OSError gives, in the words of the rest of the command line."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def _read_input(path: str, flag: str, stdin: bool = True) -> str:
    """The text of a file the user named (``-``: standard input, when ``stdin``), which must be
    UTF-8; InputError (exit 2) naming the file when it cannot be read or is not text."""
    if not path:
        raise UsageError(f"{flag}: empty path")
    if not (stdin and path == "-"):
        _check_not_a_device(path)
    try:
        data = sys.stdin.buffer.read() if stdin and path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(path, _why(exc)) from exc
    if b"\x00" in data:
        raise InputError(path, "binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}); "
                               "save it as UTF-8") from exc


def _check_not_a_device(path: str) -> None:
    """InputError for an input that is a device or a socket: /dev/zero never ends and was read
    into memory until the machine had none left. A named pipe is read (``--input <(...)``)."""
    from pipeline.readers import file_kind

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # the read says why
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise InputError(path, f"not a regular file ({file_kind(mode)})")


def _file_name(path: str, flag: str = "--output") -> Path:
    """The path of a file to write; UsageError when it is empty or a folder."""
    if not path:
        raise UsageError(f"{flag}: empty path")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{path}: a folder; give the name of a file to write")
    return p


def _check_output(path: str, flag: str = "--output") -> None:
    """UsageError for an output path that cannot name a file: empty, a folder, or in a folder that
    does not exist."""
    p = _file_name(path, flag)
    if not p.parent.is_dir():
        _check_no_file_above(p)
        raise UsageError(f"{path}: folder {p.parent} does not exist")


def _check_no_file_above(p: Path) -> None:
    """UsageError when a path's nearest existing ancestor is a file (``notes.txt/x.csv``): that
    file is named, rather than said not to exist."""
    from pipeline.readers import file_above

    above = file_above(p)
    if above is not None:
        raise UsageError(f"{p}: {above} is a file, not a folder")


def _cannot_write(path: str, exc: OSError) -> TrackerError:
    """The error to raise when writing ``path`` failed: a usage error when the path was wrong (its
    folder went away meanwhile), else OutputError (exit 1)."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
        return UsageError(f"{path}: {_why(exc)}")
    return OutputError(f"{path}: cannot be written ({_why(exc)})")


def _tell(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_run(args) -> int:
    from pipeline.ingest import can_tag, command_seconds, run
    from pipeline.lock import writer_lock
    from pipeline.store import safe_text

    can_tag(args.model, args.topics)  # before the lock makes the store's folder
    # One writer at a time, snapshots included: a second run waits for the first, then finds
    # every file it stored unchanged.
    with writer_lock(args.store, args.lock_timeout, _tell):
        ahead = None
        if not args.no_snapshots:
            from pipeline.snapshot import ExtrasAhead

            ahead = ExtrasAhead(args.store, settings.snapshots_dir(args.store), args.model)
        s = run(args.input, args.store, fmt=args.format, source=args.source, model_path=args.model,
                topics_path=args.topics, workers=args.workers, progress=sys.stderr.isatty() and not args.json,
                rehash=args.rehash, while_indexing=ahead.start if ahead is not None else None)
        written, snap_error, old_snaps = [], None, None
        if not args.no_snapshots:
            try:  # from here on a Ctrl-C leaves the run stored and its briefs unwritten: said below
                from pipeline.snapshot import write_all

                old_snaps = settings.old_snapshots_dir(args.store)
                written = write_all(args.store, settings.snapshots_dir(args.store), model_path=args.model,
                                    ahead=ahead)
            except TrackerError as exc:  # the run is committed: say so, and why the briefs are missing
                snap_error = str(exc)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM while writing the briefs: the command did not finish
                from pipeline import store as st_mod

                conn = st_mod.open_store(args.store)
                try:
                    st_mod.mark_stopped(conn, s.run_id, "interrupted")
                finally:
                    conn.close()
                raise
    s.seconds = round(command_seconds(), 2)  # the whole command's time, snapshots and start-up included
    if args.json:
        out = {**s.counts(), "run_id": s.run_id, "seconds": s.seconds, "topics_added": s.topics_added,
               "skipped": [safe_text(p) for p in s.skipped],
               "source_kept": [{"path": safe_text(p), "stored": a, "given": b} for p, a, b in s.source_kept],
               "refused": [{"path": safe_text(p), "line": ln, "reason": safe_text(r)} for p, ln, r in s.refusals],
               "notes": [{"path": safe_text(p), "note": safe_text(n)} for p, n in s.notes],
               "snapshots_written": [str(w) for w in written], "snapshots_error": snap_error}
        print(_json_text(out))
    else:
        print(f"run {s.run_id} finished in {s.seconds:.1f} s")
        print(f"  files: {s.files_considered} = new {s.files_new} + changed {s.files_changed} + unchanged "
              f"{s.files_unchanged} + duplicate {s.files_duplicate} + refused {s.files_refused}   "
              f"(read: {s.files_read})")
        if s.skipped:
            shown_names = ", ".join(shown(Path(p).name) for p in s.skipped[:3])
            print(f"  skipped: {len(s.skipped)} file{'s' if len(s.skipped) != 1 else ''} of no known format "
                  f"(e.g. {shown_names}{', ...' if len(s.skipped) > 3 else ''}); name them in --input (with --format "
                  "if need be) or give them a name ending .txt, .md, .jsonl or .csv to have them read")
        if s.source_kept:
            p, stored, given = s.source_kept[0]
            n = len(s.source_kept)
            print(f"  source kept: {n} unchanged file{'s' if n != 1 else ''} stored with another source "
                  f"keep{'s' if n == 1 else ''} {'it' if n == 1 else 'theirs'} (e.g. {shown(Path(p).name)}: "
                  f"{shown(stored)!r}, not {shown(given)!r}); a file is read again only when its bytes change: to "
                  "store files under a new source, run them into a new store")
        print(f"  statements added: {s.statements_added}   removed: {s.statements_removed}   "
              f"re-tagged: {s.statements_retagged}")
        if s.topics_added:
            print("  statements added per topic: " + ", ".join(f"{k} {v}" for k, v in sorted(s.topics_added.items())))
        if written:
            print(f"  weekly snapshots written: {len(written)} (in {settings.snapshots_dir(args.store)})")
        if s.notes:
            print(f"  accepted with a note ({len(s.notes)}):")
            for p, n in s.notes[:20]:
                print(f"    {shown(p)}: {shown(n)}")
        if s.refusals:
            # A refusal is a file or one line of a records file: say how many of each.
            print(f"  refused ({s.files_refused} file{'s' if s.files_refused != 1 else ''}, {s.lines_refused} "
                  f"line{'s' if s.lines_refused != 1 else ''} of records files):")
            for p, ln, r in s.refusals[:50]:
                print(f"    {shown(p)}{':' + str(ln) if ln else ''}: {shown(r)}")
            if len(s.refusals) > 50:
                print(f"    ... and {len(s.refusals) - 50} more (see `python -m pipeline status`)")
    if old_snaps is not None:
        print(f"note: weekly snapshots now go to {settings.snapshots_dir(args.store)} (the store's own folder); "
              f"{old_snaps}, shared by every store beside it, is no longer read: move this store's briefs "
              "from there if you want to keep them", file=sys.stderr)
    if snap_error is not None:
        print(f"error: run {s.run_id} stored {s.statements_added} statements; snapshots not written: {snap_error}",
              file=sys.stderr)
        return EXIT_ERROR
    return EXIT_REFUSED if s.refusals else EXIT_OK


def cmd_status(args) -> int:
    from pipeline import queries, store

    conn = store.open_readonly(args.store)
    info = queries.status(conn)
    info["store_id"] = store.read_store_id(conn)  # what citations and briefs name the store by
    info["reliability"], why = _reliability_summary()
    if why:
        info["reliability_unavailable"] = why
    if args.json:
        print(_json_text(info))
        return EXIT_OK
    print(f"store: {shown(store.db_path(args.store))}" + (f"   id: {info['store_id']}" if info["store_id"] else ""))
    dates = f"{info['first_date']} .. {info['last_date']}" if info["first_date"] else "none yet"
    print(f"documents: {info['documents']}   statements: {info['statements']}   dates: {dates}")
    for key, title in (("by_source", "per source"), ("by_lang", "per language"), ("by_topic", "per topic (as tagged)")):
        print(f"{title}: " + (", ".join(f"{shown(k)} {v}" for k, v in info[key].items()) or "none"))
    for m in info["models"]:
        print(f"model {m['version']} (topics {m['topics_hash']}) first used {m['first_used']}")
    for r in info["runs"]:
        print(f"run {r['run_id']} {r['started_at']} {shown(r['status'])}: {r['files_new']} new, "
              f"{r['files_changed']} changed, {r['files_unchanged']} unchanged, {r['files_duplicate']} duplicate, "
              f"{r['files_refused']} refused, {r['statements_added']} statements added")
        for ref in r["refused"]:
            print(f"    refused {shown(ref['path'])}{':' + str(ref['line']) if ref['line'] else ''}: "
                  f"{shown(ref['reason'])}")
    print(reliability_summary_text(info["reliability"]) if info["reliability"] else
          f"reliability: not available ({shown(why)})")
    return EXIT_OK


def _reliability_summary() -> tuple[dict | None, str | None]:
    """(the audit's reliability summary for the configured model, None) or (None, why there is none)."""
    from pipeline import audit

    try:
        _, found = _audit(settings.get("model"))
    except (TrackerError, OSError) as exc:
        return None, str(exc)
    return audit.summary(found), None


def reliability_summary_text(summary: dict) -> str:
    """The short reliability summary of `status`: per topic F1 with its interval, and the warnings."""
    out = [f"reliability of model {summary['model_version']} (audit sample of {summary['audit_statements']} "
           f"statements, last audit {summary['last_audit']}; `reliability` gives the full card and drift):"]
    for t, c in summary["topics"].items():
        f1 = c["f1"]
        value = "-" if f1["value"] is None else f"{f1['value']:.2f} ({f1['low']:.2f}-{f1['high']:.2f})"
        out.append(f"  {t:<12} F1 {value:<17} audit positives {c['audit_positives']}")
        for w in c["warnings"]:
            out.append(f"    warning: {w}")
    return "\n".join(out)


def _export_format(out_path: str) -> str:
    """'jsonl' or 'csv' by the output's extension (any case); '-' is JSON Lines on standard output."""
    if out_path == "-":
        return "jsonl"
    if not out_path:
        raise UsageError("--output: empty path; give FILE.jsonl, FILE.csv, or - for standard output")
    suffix = Path(out_path).suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise UsageError(f"{out_path}: unknown format {suffix or '(no extension)'}; use .jsonl or .csv "
                         "(or - for JSON Lines on standard output)")
    return suffix[1:]


def _special_file(path: str) -> bool:
    """Whether ``path`` is there and is neither a regular file nor a folder: a device (/dev/null,
    /dev/stdout) or a named pipe, which is written into where it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextmanager
def _whole_file(out_path: str, binary: bool = False) -> Iterator[IO]:
    """A file (UTF-8 text, or ``binary``) written beside ``out_path`` and renamed onto it at the
    end: a stopped or failed command never leaves half a file, and leaves nothing of its own (not
    even the part it wrote). An OSError becomes the one-line error naming the path."""
    if _special_file(out_path):
        # Renaming a file onto a device or a pipe would replace it (run as root, /dev/null became a
        # regular file) and its reader would get nothing: write into it, as a shell's > would.
        try:
            with open(out_path, "wb") if binary else open(out_path, "w", encoding="utf-8") as fh:
                yield fh
        except OSError as exc:
            raise _cannot_write(out_path, exc) from exc
        return
    tmp = Path(out_path + ".part")
    try:
        with (tmp.open("wb") if binary else tmp.open("w", encoding="utf-8")) as fh:
            yield fh
        tmp.replace(out_path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # never made (a folder that cannot be written): the error below says why
        if isinstance(exc, OSError):
            raise _cannot_write(out_path, exc) from exc
        raise


def cmd_export(args) -> int:
    from pipeline import queries, store

    out_path = args.output
    if out_path != "-":
        _check_output(out_path)
    fmt = _export_format(out_path)
    conn = store.open_readonly(args.store)
    n = 0
    if out_path == "-":
        for r in queries.export_rows(conn, args.since, args.until):
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
        print(f"exported {n} statements to standard output", file=sys.stderr)
        return EXIT_OK
    with _whole_file(out_path, binary=fmt == "csv") as fh:
        if fmt == "csv":
            n = queries.write_csv(conn, fh, args.since, args.until)
        else:
            for r in queries.export_rows(conn, args.since, args.until):
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                n += 1
    print(f"exported {n} statements to {out_path}", file=sys.stderr)
    return EXIT_OK


def _json_object(line: str) -> dict | None:
    """The line as a JSON object, or None when it is not one (then it is plain text)."""
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # "{curly braces} in a statement", JSON nested too deeply
        return None
    return obj if isinstance(obj, dict) else None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


def _read_tag_input(path: str) -> list[dict]:
    """One item per non-blank line: a JSON object with 'text' (and 'id'), else the line as plain
    text (its id the line number). InputError naming the line for an object without a text string."""
    items = []
    for n, line in enumerate(_read_input(path, "--input").split("\n"), 1):
        s = line.strip()
        if not s:
            continue
        obj = _json_object(s)
        if obj is None:
            items.append({"id": n, "text": s})
        elif "text" not in obj:
            raise InputError(path, "a JSON object needs 'text'", line=n)
        elif not isinstance(obj["text"], str):
            raise InputError(path, f"'text' must be a string, not {_json_kind(obj['text'])}", line=n)
        else:
            items.append({"id": obj.get("id", n), "text": obj["text"]})
    return items


def cmd_tag(args) -> int:
    from pipeline.tagger import load_model

    if args.output != "-":
        _check_output(args.output)
    model = load_model(args.model)
    items = _read_tag_input(args.input)
    tags = model.tag([i["text"] for i in items])
    records = ({"id": item["id"], "topics": list(t.topics), "scores": t.scores}
               | ({"evidence": {topic: model.explain(item["text"], topic) for topic in t.topics}}
                  if args.explain else {})
               for item, t in zip(items, tags))
    if args.output == "-":
        for rec in records:
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return EXIT_OK
    with _whole_file(args.output) as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return EXIT_OK


def _check_model_output(path: str) -> None:
    """UsageError for a ``train --output`` that cannot be a model file, before minutes of fitting
    (a missing folder is made; a folder, a file above the path or a device or pipe cannot be)."""
    p = _file_name(path)
    if _special_file(path):  # the model's info and compiled form are written beside it, too
        raise UsageError(f"{path}: not a regular file; a model is written to a file of its own")
    _check_no_file_above(p)


def cmd_train(args) -> int:
    from pipeline.tagger.train import train

    _check_model_output(args.output)
    labels = Path(args.labels) if args.labels else settings.labels_dir()
    extra = None
    if args.with_log:
        from pipeline.labelling import CORRECTIONS_FILE, log_training_labels

        log = log_training_labels(args.store, labels)
        extra = {"label_log": log}
        print(f"label log: {log['events']} events (hash {log['events_hash']}), {log['statements']} statements "
              f"written to {labels / CORRECTIONS_FILE}; dropped {log['dropped_audit']} whose text is in the audit "
              f"sample and {log['dropped_eval']} in the evaluation set (never trained on)")
    # A fit takes minutes and prints nothing until its end: say what it is doing first.
    print(f"training on the labelled statements of {shown(labels)} with {args.jobs} "
          f"process{'es' if args.jobs != 1 else ''} (about 1.5 minutes on two cores for the shipped labels)…",
          file=sys.stderr, flush=True)
    info = train(labels_dir=labels, topics_path=Path(args.topics), out=Path(args.output), n_jobs=args.jobs,
                 extra_info=extra)
    print(f"model {info['version']} written to {args.output}: {info['training_statements']} labelled statements, "
          f"topics {', '.join(info['topics'])}")
    print("thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in info["thresholds"].items()))
    return EXIT_OK


def cmd_retrain(args) -> int:
    from pipeline import store
    from pipeline.labelling import retrain
    if args.gold is not None:  # one the user named must be there (only the default may be absent)
        _load_gold(args.gold)
    store.open_readonly(args.store).close()  # no store here: say so before anything is written
    res = retrain(args.store, labels_dir=Path(args.labels) if args.labels else settings.labels_dir(),
                  topics_path=Path(args.topics), model_path=Path(args.model),
                  gold=Path(args.gold) if args.gold else None, jobs=args.jobs, say=print)
    print(f"model {res['model']['version']} serves {args.store} (previous: "
          f"{', '.join(res['retag']['previous']) or 'none'})")
    return EXIT_OK


def cmd_labels(args) -> int:
    from pipeline import labelling, store

    conn = store.open_readonly(args.store)
    try:
        if args.labels_command == "export":
            rows = labelling.export_labels(conn)
            if args.output == "-":
                for r in rows:
                    print(json.dumps(r, ensure_ascii=False, sort_keys=True))
            else:
                if Path(args.output).suffix.lower() != ".jsonl" and not _special_file(args.output):
                    # A labels folder is read as its *.jsonl files: under another name the labels would
                    # be written in JSON Lines anyway and then never trained on.
                    raise UsageError(f"{args.output}: labels export writes JSON Lines, the labelled set's format "
                                     "(a labels folder is read as its *.jsonl files): name it FILE.jsonl, or - for "
                                     "standard output")
                _check_output(args.output)  # a mistyped folder is an error, not a folder made
                with _whole_file(args.output) as fh:
                    fh.writelines(labelling.label_lines(rows))
            print(f"exported the labels of {len(rows)} statements from the label log", file=sys.stderr)
            return EXIT_OK
        from pipeline.tagger import model_info

        thresholds = model_info(args.model).info.get("thresholds") or {}
        if args.topic not in thresholds:
            raise UsageError(f"--topic: {args.topic!r} is not a topic of the model ({', '.join(thresholds)})")
        for item in labelling.queue(conn, args.topic, thresholds[args.topic], args.batch):
            print(f"{item['score']:.3f}  {item['statement_id']}  {item['date']}  {shown(item['text'][:140])}")
        return EXIT_OK
    finally:
        conn.close()


def _load_gold(path: str) -> list[dict]:
    """The labelled statements of a --gold file; InputError (exit 2) naming it when it is missing,
    a folder, not UTF-8 text or empty, UsageError (exit 2) naming the line that is no label."""
    from pipeline.tagger.train import load_labelled

    _read_input(path, "--gold", stdin=False)
    try:
        rows = load_labelled([Path(path)])
    except ModelError as exc:  # a bad line of a file the user named: a usage error, as in `tag --input`
        raise UsageError(str(exc)) from exc
    if not rows:
        raise InputError(path, "no labelled statements in it")
    return rows


def cmd_evaluate(args) -> int:
    import numpy as np

    from pipeline.tagger import load_model
    from pipeline.tagger.evaluate import bootstrap_f1, confident_errors, keyword_baseline, report
    from pipeline.tagger.topics import load_topics

    if args.cv is not None or args.since is not None:
        from pipeline.tagger.train import cross_validate, later_dates

        labels = Path(args.labels) if args.labels else settings.labels_dir()
        if args.cv is not None:
            cv = cross_validate(labels_dir=labels, topics_path=Path(args.topics), folds=args.cv,
                                n_jobs=args.jobs)
            what = f"{args.cv}-fold cross-validation on {len(cv['rows'])} labelled statements ({labels})"
            version = "cross-validated"
        else:
            since = args.since.isoformat()
            cv = later_dates(since=since, labels_dir=labels, topics_path=Path(args.topics), n_jobs=args.jobs)
            what = (f"trained on the {cv['trained_on']} labelled statements before {since}, measured on the "
                    f"{len(cv['rows'])} from {since} on ({labels})")
            version = f"trained before {since}"
        rows, names, gold, proba, pred, thresholds = (cv["rows"], cv["names"], cv["gold"], cv["proba"],
                                                       cv["pred"], cv["thresholds"])
    else:
        rows = _load_gold(args.gold)
        model = load_model(args.model)
        names = list(model.topics)
        foreign = sorted({t for r in rows for t in r["topics"]} - set(names))
        if foreign:  # scored as if absent: say so rather than let them vanish
            print(f"note: {shown(args.gold)}: topics the model does not tag are not scored: "
                  f"{', '.join(map(shown, foreign))}", file=sys.stderr)
        gold = np.array([[int(n in r["topics"]) for n in names] for r in rows])
        proba = model.scores_matrix([r["text"] for r in rows])
        thresholds = model.estimator.thresholds_
        pred = (proba >= thresholds).astype(int)
        what = f"model {model.version} on {len(rows)} gold statements ({args.gold})"
        version = model.version
    langs = [r.get("lang", "") for r in rows]
    texts = [r["text"] for r in rows]
    topics = {t.name: t for t in load_topics(args.topics)[0]}
    base = keyword_baseline([topics[n] for n in names], texts)
    result = {"model": version, "statements": len(rows), "model_scores": report(names, langs, gold, pred),
              "keyword_baseline": report(names, langs, gold, base),
              # How far each F1 can be read: a few dozen positives leave a wide interval.
              "intervals": bootstrap_f1(names, langs, gold, pred),
              "confident_errors": confident_errors(names, rows, gold, proba, thresholds, args.errors)}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(what)
    print("precision, recall and F1 with their 95 % bootstrap intervals (statements resampled 1,000 times)")

    def span(c: dict, more: str = "") -> str:
        return f"({c['low']:.3f}-{c['high']:.3f}{more})"

    for lang, m in result["model_scores"].items():
        b, ci = result["keyword_baseline"][lang], result["intervals"][lang]
        kw_macro, kw_micro = f"; keywords {b['macro_f1']:.3f}", f"; keywords {b['micro_f1']:.3f}"
        print(f"\n[{lang}] n={m['n']}   macro F1 {m['macro_f1']:.3f} {span(ci['macro'], kw_macro)}   "
              f"micro F1 {m['micro_f1']:.3f} {span(ci['micro'], kw_micro)}")
        print(f"  {'topic':<12} {'P (95 % interval)':>19} {'R (95 % interval)':>19} {'F1 (95 % interval)':>19}   "
              f"{'kw P':>6} {'kw R':>6} {'kw F1':>6}  support")
        rows_of = np.array([lang == "all" or x == lang for x in langs])
        undefined = []
        for j, (t, s) in enumerate(m["topics"].items()):
            k, c = b["topics"][t], ci[t]
            # No statement has the topic and none was given it: its F1 is undefined there, not 0.
            if s["support"] == 0 and not pred[rows_of, j].any():
                undefined.append(t)
                mine = f"{'—':>19} {'—':>19} {'—':>19}"
            else:
                mine = " ".join(f"{f'{s[k]:.3f} ' + span(v):>19}" for k, v in
                                (("precision", c["precision"]), ("recall", c["recall"]), ("f1", c)))
            if s["support"] == 0 and not base[rows_of, j].any():
                kw = f"{'—':>6} {'—':>6} {'—':>6}"
            else:
                kw = f"{k['precision']:>6.3f} {k['recall']:>6.3f} {k['f1']:>6.3f}"
            print(f"  {t:<12} {mine}   {kw}  {s['support']}")
        if undefined:
            print(f"  ({', '.join(undefined)}: no statement has it and none was tagged with it, so its F1 "
                  "is undefined; the macro F1 above counts it as 0)")
    print("\nmost confidently wrong:")
    for e in result["confident_errors"]:
        print(f"  [{e['lang']}] {e['topic']} {e['error']} (score {e['score']:.2f}): {e['text'][:140]}")
    return EXIT_OK


def cmd_snapshot(args) -> int:
    from pipeline.lock import writer_lock
    from pipeline.snapshot import freeze_week, made_at, write_all
    from pipeline.store import db_path

    out = Path(args.out) if args.out else settings.snapshots_dir(args.store)
    # Not while a run writes its own snapshots (a missing store is left for write_* to report).
    lock = writer_lock(args.store, None, _tell) if db_path(args.store).exists() else nullcontext()
    with lock:
        if args.all:
            written = write_all(args.store, out, force=args.force)
            print(f"{len(written)} snapshots written to {out}")
            for w in written:
                print(f"  {w}")
        else:
            path, wrote = freeze_week(args.store, out, args.week, force=args.force)
            if wrote:
                print(f"snapshot written: {path}")
            else:
                made = made_at(path)
                print(f"{args.week} already has a brief{f' (made {made})' if made else ''}, kept: {path}; "
                      "--force writes a new one, keeping this one beside it")
    return EXIT_OK


def _audit(model_path: str):
    from pipeline import audit
    from pipeline.tagger import load_model

    model = load_model(model_path)
    found = audit.load(model)
    if found is None:
        raise UsageError(f"no audit sample at {audit.SAMPLE_FILE}: corrected shares and the reliability card "
                         "need one")
    return model, found


def cmd_trend(args) -> int:
    from pipeline import queries, store

    conn = store.open_readonly(args.store)
    known = queries.facets(conn)
    for flag, values, have in (("--topic", args.topic, known["topics"]), ("--source", args.source, known["sources"])):
        unknown = [v for v in values if v not in have]
        if unknown:
            raise UsageError(f"{flag}: {', '.join(map(repr, unknown))} not in the store (it has: {', '.join(have)})")
    f = queries.Filters(date_from=args.since, date_to=args.until, sources=tuple(args.source), topics=tuple(args.topic))
    if args.corrected:
        _, audit = _audit(args.model)
        _warn_mismatch(conn, audit)
        df = queries.corrected_trend(conn, f, audit, args.by)
    else:
        df = queries.trend(conn, f, args.by)
        for col in ("share_corrected", "ci_low", "ci_high"):
            df[col] = None
    if args.cite:
        from pipeline import provenance

        _cite(conn, provenance.trend_what(args.by, "corrected" if args.corrected else "tagged"), f,
              audit if args.corrected else None)
    rows = [{"period": r.period.isoformat(), "topic": r.topic, "count": int(r.count), "total": int(r.total),
             "share": _round(r.share), "share_corrected": _round(r.share_corrected), "ci_low": _round(r.ci_low),
             "ci_high": _round(r.ci_high)} for r in df.itertuples()]
    if known["date_min"] and not any(r["total"] for r in rows):
        # An empty table alone read as "the topic never came up"; say where the statements are.
        asked = (f"from {args.since} to {args.until}" if args.since and args.until else
                 f"from {args.since} on" if args.since else f"up to {args.until}" if args.until else "")
        print(f"note: no statements {asked or 'at all'}{' for these sources' if args.source else ''}; the "
              f"store's statements are dated {known['date_min']} to {known['date_max']}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return EXIT_OK
    print(f"{'period':<11} {'topic':<12} {'count':>7} {'total':>7} {'share':>7}"
          + (f" {'corrected':>9} {'95% interval':>17}" if args.corrected else ""))
    for r in rows:
        line = f"{r['period']:<11} {r['topic']:<12} {r['count']:>7} {r['total']:>7} {_pct(r['share']):>7}"
        if args.corrected:
            line += f" {_pct(r['share_corrected']):>9} {_pct(r['ci_low']):>8}-{_pct(r['ci_high']):<8}"
        print(line)
    return EXIT_OK


def _cite(conn, what: str, f, audit=None) -> None:
    """``--cite``: the numbers' citation (``pipeline.provenance``) on stderr, so that the table or
    the JSON on stdout stays as it is for whatever reads it."""
    from pipeline import provenance

    print(provenance.citation(provenance.gather(conn, audit), what=what, f=f), file=sys.stderr)


def _round(x) -> float | None:
    return None if x is None or x != x else round(float(x), 5)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def cmd_reliability(args) -> int:
    from pipeline import audit as audit_mod
    from pipeline import store

    model, audit = _audit(args.model)
    card = {"model_version": model.version, "audit_statements": len(audit.ids), "audit_frame": audit.frame,
            "topics": {t: audit.card(t) for t in audit.topics}, "agreement": audit_mod.coder_agreement(audit.frame)}
    card["last_audit"] = next(iter(card["topics"].values()))["last_audit"] if card["topics"] else None
    if not args.no_drift:
        conn = store.open_readonly(args.store)
        card["drift"] = audit_mod.drift(conn, audit, model)
    if args.json:
        print(json.dumps(card, indent=1, ensure_ascii=False))
        return EXIT_OK
    print(reliability_text(card))
    return EXIT_OK


def interval_text(m: dict, places: int = 3) -> str:
    """``{"value", "low", "high"}`` as text: the value with its interval, the value alone when it has
    none (low None, or no low: round 2's kappas), "-" when there is no value."""
    if m["value"] is None:
        return "-"
    value = f"{m['value']:.{places}f}"
    return value if m.get("low") is None else f"{value} ({m['low']:.{places}f}-{m['high']:.{places}f})"


def reliability_text(card: dict) -> str:
    """The reliability card as lines of text (the reliability and status commands)."""
    from pipeline.correction import POOLED

    last = f"; last audit {card['last_audit']}" if card.get("last_audit") else ""
    out = [f"reliability of model {card['model_version']} on the audit sample ({card['audit_statements']} "
           f"statements, each coded by two independent coders against the codebook, never used for training{last}):"]
    # t̂ and f̂: the mean score of statements that are / are not about the topic (all sources on the
    # line under the topic's, then per source).
    out.append(f"  {'topic':<12} {'precision':>19} {'recall':>19} {'F1':>19} {'Brier':>21} {'ECE':>21} {'pos':>4}")

    def ci(m: dict) -> str:
        return interval_text(m, 2)

    # Three places: f̂ is about 0.01, which two would round to one number with no interval.
    ci3 = interval_text

    for t, c in card["topics"].items():
        cal = c["calibration_intervals"]
        out.append(f"  {t:<12} {ci(c['precision']):>19} {ci(c['recall']):>19} {ci(c['f1']):>19} "
                   f"{ci3(cal['brier']):>21} {ci3(cal['ece']):>21} {c['audit_positives']:>4}")
        ri = c.get("rate_intervals")
        if ri:
            out.append(f"    t̂ {ci3(ri['t'])}, f̂ {ci3(ri['f'])}, t̂ - f̂ {ci3(ri['separation'])} "
                       "(all sources, 95% intervals)")
        per_source = [f"{shown(s)} {ci3(r['intervals']['t'])} / {ci3(r['intervals']['f'])} ({r['positives']} positives"
                      + ("; t̂ of all sources)" if r["pooled"] else ")")
                      for s, r in c.get("rates", {}).items() if s != POOLED]
        if per_source:
            out.append("    t̂ / f̂ per source: " + ", ".join(per_source))
        for w in c["warnings"]:
            out.append(f"    warning: {w}")
    if card.get("agreement"):
        out.append("coders' agreement before adjudication (Cohen's kappa of the two independent coders' yes/no per "
                   "topic, with a 95% interval where the frame records the coders' positives; a third coder settled "
                   "every disagreement):")
        for a in card["agreement"]:
            out.append(f"  round {a['round']}, {a['language']} ({a['statements']:,} statements): "
                       + ", ".join(f"{t} {interval_text({'value': k, **a['intervals'].get(t, {})})}"
                                    for t, k in a["kappa"].items()))
    drift = card.get("drift")
    if drift is not None:
        flagged = [d for d in drift if d["warning"]]
        out.append(f"drift: {len(flagged)} of {len(drift)} source-quarters differ from the audit sample "
                   "(new audit labels are due where they do)")
        for d in flagged:
            why = [f"{t} PSI {v['psi']:.2f}" for t, v in d["topics"].items() if v["warning"]]
            if d["unseen_warning"]:
                why.append(f"unseen words {100 * d['unseen_words']:.1f}% (audit {100 * d['unseen_words_audit']:.1f}%)")
            out.append(f"  {d['quarter']} {shown(d['source'])}: {'; '.join(why)}")
    return "\n".join(out)


def cmd_settings(args) -> int:
    for s in settings.SETTINGS.values():
        print(f"{s.name:<15} ${s.env:<22} = {s.get()!r}\n    {s.help}")
    return EXIT_OK


def _optional_audit(model_path: str, raw: bool, conn):
    """The audit sample when there is one and ``raw`` is not asked for; else None (raw shares).
    Warns on stderr when the store (``conn``) was tagged by another model."""
    if raw:
        return None
    from pipeline import audit
    from pipeline.tagger import load_model

    found = audit.load(load_model(model_path))
    if found is not None:
        _warn_mismatch(conn, found)
    return found


def _warn_mismatch(conn, found) -> None:
    from pipeline import audit, queries

    note = audit.model_mismatch(found.model_version, queries.tagging_models(conn))
    if note:
        print(f"warning: {note}", file=sys.stderr)


def _check_known(flag: str, values, have: list[str]) -> None:
    unknown = [v for v in values if v not in have]
    if unknown:
        raise UsageError(f"{flag}: {', '.join(map(repr, unknown))} not in the store (it has: {', '.join(have)})")


def cmd_events(args) -> int:
    from pipeline import events, queries, store
    from pipeline.display import size_text

    conn = store.open_readonly(args.store)
    known = queries.facets(conn)
    _check_known("--topic", args.topic, known["topics"])
    _check_known("--source", args.source, known["sources"])
    audit = _optional_audit(args.model, args.raw, conn)
    found = events.find(conn, audit, topics=args.topic, sources=args.source, since=args.since)
    measure = "corrected" if audit is not None else "raw"
    if args.cite:
        from pipeline import provenance

        _cite(conn, provenance.events_what(measure),
              queries.Filters(date_from=args.since, sources=tuple(args.source), topics=tuple(args.topic)), audit)
    if args.json:
        print(_json_text({"measure": measure, "events": found}))
        return EXIT_OK
    print(f"{len(found)} event{'' if len(found) == 1 else 's'}, newest first ({measure} weekly shares; a week is "
          "a spike when its share is "
          f"{events.Z_THRESHOLD:g} robust standard deviations above the previous {events.BASELINE_WEEKS} weeks):")
    for e in found:
        print(f"{e['start']} to {e['end']}  {shown(e['topic'])} · {shown(e['source'])}  z {e['z']:.1f}  "
              f"{size_text(e)}  {e['count']} statements")
        for lang, terms in e["terms"].items():
            print(f"    {shown(lang)}: {shown(', '.join(t['term'] for t in terms)) or '(no distinctive term)'}")
        for st in e["statements"]:  # the events.TOP_STATEMENTS that carry the words most
            text = " ".join(st["text"].split())
            print(f"    - {st['date']} {shown(st['speaker'] or '?')}: {shown(text[:160])}"
                  + ("…" if len(text) > 160 else ""))
    return EXIT_OK


def cmd_leadlag(args) -> int:
    from pipeline import leadlag, queries, store

    conn = store.open_readonly(args.store)
    known = queries.facets(conn)
    _check_known("--topic", args.topic, known["topics"])
    _check_known("--a/--b", [args.a, args.b], known["sources"])
    if args.a == args.b:
        raise UsageError("--a and --b must be two different sources")
    if args.bootstrap < 0:
        raise UsageError("--bootstrap must be 0 or more")
    audit = _optional_audit(args.model, args.raw, conn)
    out = leadlag.run(conn, audit, topics=args.topic, source_a=args.a, source_b=args.b, irf_reps=args.bootstrap)
    if args.json:
        print(_json_text(out))
        return EXIT_OK
    print(f"lead and lag, {shown(args.a)} (A) vs {shown(args.b)} (B), weekly shares over the weeks both speak; "
          "p-values Benjamini-Hochberg adjusted over topics and directions:")
    for r in out["topics"]:
        line = f"  {shown(r['topic']):<12} {shown(r['verdict'])}"
        if "p_adj_a_precedes_b" in r:
            line += (f"  (A first p={r['p_adj_a_precedes_b']:.3f}, B first p={r['p_adj_b_precedes_a']:.3f}; "
                     f"{r['weeks']} weeks, {r['measure']} shares, VAR({r['var_lags']}+{r['d_max']}), "
                     f"cross-correlation peak {r['ccf_peak']['ccf']:+.2f} at lag {r['ccf_peak']['lag']:+d})")
        print(line)
    print(out["caveat"])
    return EXIT_OK


COMMANDS = {"run": cmd_run, "status": cmd_status, "export": cmd_export, "tag": cmd_tag, "train": cmd_train,
            "evaluate": cmd_evaluate, "snapshot": cmd_snapshot, "settings": cmd_settings, "trend": cmd_trend,
            "reliability": cmd_reliability, "events": cmd_events, "leadlag": cmd_leadlag, "retrain": cmd_retrain,
            "labels": cmd_labels}
