"""Worker processes that end when the process that started them ends, however it ends.

A process that starts workers keeps the write end of a pipe it never writes to (its lifeline);
each worker keeps the read end and a thread blocked reading it. When the starting process dies,
by SIGKILL as much as by a normal exit, the kernel closes its write end, the read returns
end-of-file and the worker exits at once: no polling, no process id that could be reused.

Watching the parent process (``PR_SET_PDEATHSIG``, ``os.getppid()``) is not enough: with the
forkserver start method (Python 3.14's default on Linux) a worker's parent is the forkserver, which
itself lives as long as any worker holds its "alive" pipe. The pipe works the same whatever starts
the workers: fork, spawn, forkserver, or joblib's loky processes.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import context, reduction

# Write ends of this process's lifelines. A worker forked from this process inherits copies of
# them and must close every one, or the lifelines would outlive this process in its own workers.
_WRITE_ENDS: set[int] = set()
_LOKY_LINE: Lifeline | None = None
EXIT_ORPHANED = 70  # what a worker exits with when the process that started it is gone


class Lifeline:
    """A pipe whose read end a worker watches; end-of-file means its starter is gone."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.read_fd, self.write_fd = os.pipe()  # neither is inherited across exec (PEP 446)
        _WRITE_ENDS.add(self.write_fd)

    def __reduce__(self):
        # Pickled only for a worker being spawned (spawn, forkserver, loky): the read end goes
        # with it through the start method's own way of handing over file descriptors.
        if context.get_spawning_popen() is None:
            raise TypeError("a Lifeline is only handed to a process being started")
        return (_ReceivedLifeline, (reduction.DupFd(self.read_fd),))

    def hold(self) -> None:
        """In a worker: end this process when the starter's write end closes."""
        if os.getpid() != self.owner:  # forked: the starter's write ends were copied here
            for fd in list(_WRITE_ENDS):
                os.close(fd)
            _WRITE_ENDS.clear()
        _watch(self.read_fd)

    def cut(self) -> None:
        """In the starter: end every worker holding this line now (they exit as if orphaned)."""
        if self.write_fd >= 0:
            _WRITE_ENDS.discard(self.write_fd)
            os.close(self.write_fd)
            self.write_fd = -1

    def close(self) -> None:
        """In the starter, once its workers have ended: release both ends."""
        self.cut()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1


class _ReceivedLifeline:
    """A lifeline's read end as a spawned worker receives it."""

    def __init__(self, dup) -> None:
        self.dup = dup

    def hold(self) -> None:
        _watch(self.dup.detach())


def _watch(fd: int) -> None:
    def wait() -> None:
        try:
            while os.read(fd, 1):  # nothing is ever written: only end-of-file returns
                pass
        except OSError:
            pass
        os._exit(EXIT_ORPHANED)  # no clean-up: the work belongs to a run that no longer exists

    threading.Thread(target=wait, name="lifeline", daemon=True).start()


def start_worker(line: Lifeline | _ReceivedLifeline) -> None:
    """Initializer of every worker process.

    Ctrl-C on a terminal reaches every process of the job; the workers leave it to the run,
    which stops them itself (and so no worker prints a traceback of its own). SIGTERM ends a
    worker at once, as the system's default: a forked worker would otherwise keep the command's
    handler, which raises ``Terminated``, and the pool terminates a worker still in this
    initializer when its sibling has ended (a cut lifeline): "Exception in initializer" and a
    traceback went to the terminal of a Ctrl-C pressed while the workers started.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # forked while the starter held them back (_start_workers)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    line.hold()


@contextmanager
def worker_pool(max_workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers end with this process, however it ends.

    Leaving the block by an exception (Ctrl-C, SIGTERM, an error, an abandoned generator) cuts
    the lifeline: the workers end at once instead of finishing the work already handed to them.
    """
    line = Lifeline()
    pool = ProcessPoolExecutor(max_workers=max_workers, initializer=start_worker, initargs=(line,))
    try:
        _start_workers(pool)
        yield pool
    except BaseException:
        line.cut()
        _release_reader(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        line.close()


_HELD = {signal.SIGINT, signal.SIGTERM}


def _start_workers(pool: ProcessPoolExecutor) -> None:
    """Start the pool's workers now, with Ctrl-C and SIGTERM held back while this process forks.

    A signal that arrives during a fork is raised inside the handlers Python runs after it, where
    it can only be printed and dropped ("Exception ignored"): the run then went on as if nobody
    had pressed Ctrl-C. Held back, it is raised as soon as the workers exist.
    """
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        pool.submit(int)  # (with fork, every worker is started by the first task)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _release_reader(pool: ProcessPoolExecutor, within: float = 10.0) -> None:
    """Once the workers of a cut line have ended, let the pool's manager thread see it.

    A worker that ends in the middle of sending a result leaves half a message in the result
    pipe, and the pool's manager thread waits for the rest of it for ever (``shutdown`` then
    never returns). With every worker gone, this process holds the pipe's only write end;
    closing it turns that wait into end-of-file, which the pool handles as a broken pool.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        p.join(within)
    if any(p.is_alive() for p in processes):
        return  # a worker still writing would fail on a closed pipe: leave the pipe alone
    queue = getattr(pool, "_result_queue", None)
    writer = getattr(queue, "_writer", None)
    if writer is not None:
        writer.close()


def joblib_options() -> dict:
    """Keyword arguments for ``joblib.Parallel`` that give its (loky) workers a lifeline.

    One lifeline for the life of this process: joblib reuses its workers from one ``Parallel``
    call to the next only while these arguments stay the same. Other backends ignore them.
    """
    global _LOKY_LINE
    if _LOKY_LINE is None or _LOKY_LINE.owner != os.getpid():
        _LOKY_LINE = Lifeline()
    return {"initializer": start_worker, "initargs": (_LOKY_LINE,)}


def bounded_map(pool: ProcessPoolExecutor, fn, items: Iterable, ahead: int,
                cost: Callable[[object], float] | None = None, budget: float = 0.0) -> Iterator:
    """``pool.map(fn, items)`` with at most ``ahead`` items handed to the workers at a time, so
    that a long stream of items (batches read from the store) is not all held in memory; with
    ``cost``, also no more than ``budget`` of their summed costs (an item is always handed over
    when none is in flight): a window counted in items would shrink in work where the items do."""
    pending: deque = deque()
    in_flight = 0.0
    for item in items:
        c = cost(item) if cost is not None else 0.0
        while pending and (len(pending) >= ahead or (cost is not None and in_flight + c > budget)):
            done, c_done = pending.popleft()
            in_flight -= c_done
            yield done.result()
        pending.append((pool.submit(fn, item), c))
        in_flight += c
    while pending:
        yield pending.popleft()[0].result()
