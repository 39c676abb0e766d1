"""A killed or interrupted run leaves none of its processes behind (issue #16).

Each run is started in a session of its own, so "the run's processes" are exactly the live
processes of that session (read from /proc): the run, its workers, and any helper process
multiprocessing starts for it (a forkserver, a resource tracker). The test runner is in another
session and is never counted or signalled.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import settings, store
from tests.conftest import ROOT, SEED_FILE, need_corpus, run_cli
from tests.test_robustness import _check_whole

N_FILES = 250            # about 75,000 statements: a run of several seconds on two cores
# Every other conference of 2020: 40-odd weeks, so that snapshots are written by worker processes.
GONE_WITHIN = 5.0        # seconds a killed run's processes may take to end
# How a user of Python 3.14 (forkserver by default on Linux) or of macOS (spawn) starts workers.
WITH_START_METHOD = ("import multiprocessing, sys; multiprocessing.set_start_method(sys.argv[1]); "
                     "from pipeline.cli import main; sys.exit(main(sys.argv[2:]))")

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")


# -- the run's processes ---------------------------------------------------------------------
def _session_processes(sid: int) -> dict[int, str]:
    """Live processes of session ``sid``: pid -> command line (zombies have ended already)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmd = Path(entry.path, "cmdline").read_bytes()
        except OSError:  # it ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            found[int(entry.name)] = cmd.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def _left_after(proc: subprocess.Popen, within: float = GONE_WITHIN) -> dict[int, str]:
    """Wait for the run to end, then up to ``within`` seconds for its other processes; what is left."""
    proc.wait(timeout=60)
    deadline = time.time() + within
    while True:
        left = _session_processes(proc.pid)
        if not left or time.time() > deadline:
            return left
        time.sleep(0.05)


class _Run:
    """`python -m pipeline ARGS` in a session of its own; leftovers are killed when the test ends."""

    def __init__(self, tmp_path: Path, *args: str, start_method: str | None = None) -> None:
        cmd = [sys.executable, "-m", "pipeline", *args] if start_method is None else \
            [sys.executable, "-c", WITH_START_METHOD, start_method, *args]
        self.out, self.err = tmp_path / "out.txt", tmp_path / "err.txt"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                         stdout=out, stderr=err, start_new_session=True)

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc) -> None:
        # Only this session's processes: the run and whatever it started. A failing test must
        # not leave the very leftovers it found.
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pid in _session_processes(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait_until(self, condition: Callable[[], bool], timeout: float = 120, every: float = 0.02) -> None:
        """Poll ``condition`` until it holds; fail if the run ends (or time runs out) first."""
        deadline = time.time() + timeout
        while not condition():
            assert self.proc.poll() is None, f"the run ended before the moment came: {self.err.read_text()}"
            assert time.time() < deadline, "the moment never came"
            time.sleep(every)

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


# -- the store, as a user sees it ------------------------------------------------------------
def _query(st_dir: Path, sql: str):
    try:
        with sqlite3.connect(f"file:{store.db_path(st_dir)}?mode=ro", uri=True, timeout=1) as c:
            return c.execute(sql).fetchone()
    except sqlite3.Error:  # not created yet
        return None


def _statements(st_dir: Path) -> int:
    row = _query(st_dir, "SELECT COUNT(*) FROM statements")
    return row[0] if row else 0


def _last_run_status(st_dir: Path) -> str | None:
    row = _query(st_dir, "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1")
    return row[0] if row else None


def _logged_as_stored(st_dir: Path) -> None:
    """The run log of a stopped first run says what it stored: its files and statements (QA item 3:
    it said 0 of each)."""
    files, statements = _query(st_dir, "SELECT (SELECT COUNT(*) FROM files), (SELECT COUNT(*) FROM statements)")
    assert _query(st_dir, "SELECT files_new, statements_added FROM runs WHERE run_id = 1") == (files, statements)
    assert _query(st_dir, "SELECT files_considered FROM runs WHERE run_id = 1")[0] >= files


def _wal_size(st_dir: Path) -> int:
    try:
        return os.path.getsize(str(store.db_path(st_dir)) + "-wal")
    except OSError:
        return 0


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    """N_FILES conferences of 2020 and 2021 from the real corpus, every other one (enough that a
    run is still reading when the tests act, now that a run reads 100 files in about 2 s)."""
    corpus = need_corpus()
    folder = tmp_path_factory.mktemp("kill") / "in"
    folder.mkdir()
    files = [f for year in ("2020", "2021") for f in sorted((corpus / "mananeras" / year).glob("*.txt"))]
    for f in files[::2][:N_FILES]:
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def expected(inbox, tmp_path_factory) -> int:
    """Statements of an uninterrupted run over the inbox."""
    st_dir = tmp_path_factory.mktemp("ref") / "store"
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    return _check_whole(store.db_path(st_dir))


def _run_args(inbox: Path, st_dir: Path, *more: str) -> list[str]:
    return ["run", "--input", str(inbox), "--store", str(st_dir), "--workers", "2", *more]


# -- SIGKILL at several moments ----------------------------------------------------------------
def _start_up(run: _Run, st_dir: Path) -> None:
    time.sleep(0.3)  # importing; workers may not exist yet, and none may be left either


def _reading(run: _Run, st_dir: Path) -> None:
    run.wait_until(lambda: _statements(st_dir) > 0)  # workers have read and tagged files
    time.sleep(random.uniform(0.0, 0.3))


def _committing(run: _Run, st_dir: Path) -> None:
    run.wait_until(lambda: _statements(st_dir) > 0)
    size = _wal_size(st_dir)
    run.wait_until(lambda: _wal_size(st_dir) != size, every=0.005)  # the run is writing a batch


def _snapshots(run: _Run, st_dir: Path) -> None:
    run.wait_until(lambda: _last_run_status(st_dir) not in (None, "running"))  # the run is logged
    out = settings.snapshots_dir(str(st_dir))
    run.wait_until(lambda: out.is_dir() and any(out.iterdir()))  # weeks are being written


@pytest.mark.parametrize("moment", [_start_up, _reading, _committing, _snapshots],
                         ids=["start-up", "reading", "committing", "snapshots"])
def test_sigkill_leaves_no_process_and_the_next_run_completes(inbox, expected, tmp_path, moment):
    st_dir = tmp_path / "store"
    with _Run(tmp_path, *_run_args(inbox, st_dir)) as run:
        moment(run, st_dir)
        assert run.proc.poll() is None, "the run ended before it could be killed"
        run.proc.send_signal(signal.SIGKILL)
        assert _left_after(run.proc) == {}
    if store.db_path(st_dir).exists():
        _check_whole(store.db_path(st_dir))
        if _last_run_status(st_dir) is not None:
            _logged_as_stored(st_dir)
    # Nothing lost, nothing doubled, and the leftovers (none) did not get in the way.
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    assert _check_whole(store.db_path(st_dir)) == expected
    assert _query(st_dir, "SELECT COUNT(*) FROM runs WHERE status = 'running'") == (0,)


@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_sigkill_leaves_no_process_whatever_starts_the_workers(inbox, tmp_path, start_method):
    # With forkserver (Python 3.14's default) the workers are the forkserver's children, not the
    # run's, and the forkserver itself must end too.
    st_dir = tmp_path / "store"
    with _Run(tmp_path, *_run_args(inbox, st_dir), start_method=start_method) as run:
        run.wait_until(lambda: _statements(st_dir) > 0)  # workers are reading and tagging
        helpers = len(_session_processes(run.proc.pid)) - 1
        run.proc.send_signal(signal.SIGKILL)
        assert _left_after(run.proc) == {}
    assert helpers >= 2  # the workers were there to be ended


def test_sigterm_ends_the_run_cleanly(inbox, tmp_path):
    st_dir = tmp_path / "store"
    with _Run(tmp_path, *_run_args(inbox, st_dir)) as run:
        _reading(run, st_dir)
        run.proc.send_signal(signal.SIGTERM)  # `kill PID`, as a scheduler does first
        assert _left_after(run.proc) == {}
        assert run.proc.returncode == 128 + signal.SIGTERM
        assert "interrupted" in run.stderr() and "Traceback" not in run.stderr()
    assert _last_run_status(st_dir) == "interrupted"
    _check_whole(store.db_path(st_dir))
    _logged_as_stored(st_dir)


def test_ctrl_c_ends_the_run_cleanly(inbox, tmp_path):
    st_dir = tmp_path / "store"
    with _Run(tmp_path, *_run_args(inbox, st_dir)) as run:
        _reading(run, st_dir)
        os.killpg(run.proc.pid, signal.SIGINT)  # a terminal sends Ctrl-C to every process of the job
        assert _left_after(run.proc) == {}
        assert run.proc.returncode == 128 + signal.SIGINT
        assert "interrupted" in run.stderr() and "Traceback" not in run.stderr()
    assert _last_run_status(st_dir) == "interrupted"
    _check_whole(store.db_path(st_dir))
    _logged_as_stored(st_dir)


def _train_args(tmp_path: Path) -> tuple[list[str], Path]:
    """`train` on 1,500 labels of each language into a new folder: its arguments, its model file."""
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in ("train_es.jsonl", "train_en.jsonl"):
        lines = (ROOT / "pipeline" / "labels" / name).read_text(encoding="utf-8").splitlines()
        (labels / name).write_text("\n".join(lines[:1500]) + "\n", encoding="utf-8")
    out = tmp_path / "model" / "tagger.skops"
    return ["train", "--labels", str(labels), "--output", str(out), "--jobs", "2"], out


def _fitting(run: _Run) -> None:
    """Wait until the topics are being fitted in worker processes, and have been for a second (a
    worker still importing Python when Ctrl-C comes prints a traceback of its own)."""
    run.wait_until(lambda: sum("loky" in c and "resource_tracker" not in c
                               for c in _session_processes(run.proc.pid).values()) >= 2, every=0.1)
    time.sleep(1.0)
    assert run.proc.poll() is None, "training ended before it could be stopped"


def test_a_killed_train_leaves_no_fitting_process(tmp_path):
    args, out = _train_args(tmp_path)
    with _Run(tmp_path, *args) as run:
        _fitting(run)
        run.proc.send_signal(signal.SIGKILL)
        assert _left_after(run.proc) == {}
    assert not out.exists()


# A worker that ends half-way through sending its result (the run stopped while it wrote) leaves
# half a message in the pool's result pipe. Written here by the worker itself, then it waits to
# be ended with the others, as a worker caught mid-write would be.
HALF_SENT = """
import os, struct, sys, time
from pipeline.workers import worker_pool

def half_sent(_):
    frame = sys._getframe()
    while "result_queue" not in frame.f_locals:  # the pool's own worker loop holds the pipe
        frame = frame.f_back
    writer = frame.f_locals["result_queue"]._writer
    os.write(writer.fileno(), struct.pack("!i", 1 << 20) + b"x" * 1024)  # 1 MB announced, 1 kB sent
    time.sleep(120)

if __name__ == "__main__":
    start = time.time()
    try:
        with worker_pool(2) as pool:
            pool.submit(half_sent, 0)
            time.sleep(1.0)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        print(f"stopped after {time.time() - start:.1f} s")
"""


def test_a_worker_stopped_in_the_middle_of_its_result_does_not_hang_the_run(tmp_path):
    script = tmp_path / "half_sent.py"
    script.write_text(HALF_SENT, encoding="utf-8")
    try:
        r = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                           capture_output=True, text=True, timeout=30, start_new_session=True)
    except subprocess.TimeoutExpired:
        # (its workers end with it: they hold its lifeline)
        pytest.fail("the pool never ended: its thread waits for the rest of a message no worker will send")
    assert r.returncode == 0, r.stderr
    assert "stopped after" in r.stdout and "Traceback" not in r.stderr


# SIGKILL at the first moment the run has a database file open in the store folder (an audit
# hook sees SQLite open it): the schema is not written yet.
KILLED_AT_CREATION = """
import os, signal, sys
folder = sys.argv[1]
opening = []
def hook(event, args):
    if event == "sqlite3.connect" and str(args[0]).startswith(folder):
        opening.append(args[0])
    elif event == "sqlite3.connect/handle" and opening:
        os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
from pipeline.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_run_killed_while_it_creates_the_store_leaves_no_broken_store(tmp_path):
    st_dir = tmp_path / "store"
    args = ["run", "--input", str(SEED_FILE), "--store", str(st_dir), "--no-snapshots"]
    r = subprocess.run([sys.executable, "-c", KILLED_AT_CREATION, str(st_dir), *args], cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    # No database without tables (the dashboard and every reader would call it broken): no store yet.
    assert not store.db_path(st_dir).exists()
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert _check_whole(store.db_path(st_dir)) > 0


# Ctrl-C in the moment the run forks its first worker: the signal is sent from the fork's own
# after-fork handler, as when it arrives while the kernel copies a large process.
CTRL_C_DURING_FORK = """
import os, signal, sys
sent = []
def interrupt():
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGINT)
os.register_at_fork(after_in_parent=interrupt)
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_the_run_starts_its_workers_stops_it(tmp_path):
    st_dir = tmp_path / "store"
    inbox = tmp_path / "in"
    inbox.mkdir()
    for f in sorted((ROOT / "seeds" / "mananeras").rglob("*.txt"))[:12]:
        shutil.copy(f, inbox / f.name)
    r = subprocess.run([sys.executable, "-c", CTRL_C_DURING_FORK, *_run_args(inbox, st_dir, "--no-snapshots")],
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                       timeout=120)
    # Not dropped ("Exception ignored") with the run going on to the end: stopped, and said so.
    assert r.returncode == 128 + signal.SIGINT, (r.returncode, r.stderr)
    assert "interrupted" in r.stderr and "Exception ignored" not in r.stderr and "Traceback" not in r.stderr
    assert _last_run_status(st_dir) == "interrupted"


def test_ctrl_c_during_train_writes_no_model_and_says_so(tmp_path):
    args, out = _train_args(tmp_path)
    with _Run(tmp_path, *args) as run:
        _fitting(run)
        os.killpg(run.proc.pid, signal.SIGINT)
        assert _left_after(run.proc) == {}
        assert run.proc.returncode == 128 + signal.SIGINT
        assert "interrupted (SIGINT): no model written" in run.stderr() and "Traceback" not in run.stderr()
    assert not out.exists()


# Ctrl-C when the export has written everything and is about to give the file its name.
CTRL_C_BEFORE_RENAME = """
import os, signal, sys
def hook(event, args):
    if event == "os.rename" and str(args[0]).endswith(".part"):
        os.kill(os.getpid(), signal.SIGINT)  # raised as KeyboardInterrupt here: the rename never happens
sys.addaudithook(hook)
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("name", ["out.csv", "out.jsonl"])
def test_an_interrupted_export_leaves_no_file_and_says_so(seed_store, tmp_path, name):
    out = tmp_path / name
    r = subprocess.run([sys.executable, "-c", CTRL_C_BEFORE_RENAME, "export", "--store", str(seed_store),
                        "--output", str(out)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 128 + signal.SIGINT, r.stderr
    assert "interrupted (SIGINT): nothing written" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # neither the file nor the part written so far
