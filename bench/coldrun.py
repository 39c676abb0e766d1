"""The cold run's targets side by side with the naive baseline: `python -m bench.coldrun`.

One sitting measures, on the real corpus: the naive baseline (pandas and regular expressions,
nothing stored) and a cold run of the whole corpus but its last day (snapshots included),
alternating ``--rounds`` times, then a cold run without snapshots (with the snapshots alone
after), the peak memory of every process of the run together, one new day, a rerun with
nothing new, and, with ``--retag-model``, re-tagging the whole store with another model (what
`run` does after `train`). Prints a Markdown table (and JSON with ``--json``); BENCHMARKS.md
keeps the numbers of a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.corpus import DEFAULT_CORPUS, NAIVE, ROOT


@dataclass
class Measured:
    """One command: wall seconds, CPU seconds of it and its children, peak memory of its tree."""

    wall: float
    cpu: float
    peak_pss_mb: float  # summed over every process of the command at once (shared pages counted once)
    peak_rss_mb: float  # summed likewise, shared pages counted in every process
    stdout: str


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                for child in fh.read().split():
                    out += _tree(int(child))
    except OSError:
        pass
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB of one process, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        return int(fields["Rss"].split()[0]), int(fields["Pss"].split()[0])
    except (OSError, KeyError, ValueError):
        return 0, 0


def measure(cmd: list[str]) -> Measured:
    """Run a command, sampling the memory of its process tree every 0.25 s (reading every
    process's smaps_rollup is not free: every 0.1 s it took 3.5 s of CPU during a 30-s re-tag)."""
    peak = [0, 0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                values = [_memory(p) for p in _tree(proc.pid)]
                peak[0] = max(peak[0], sum(v[0] for v in values))
                peak[1] = max(peak[1], sum(v[1] for v in values))
                done.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code not in (0, 3):
        raise SystemExit(f"benchmark step failed ({code}): {' '.join(cmd)}\n{stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(round(wall, 2), round(cpu, 2), round(peak[1] / 1024), round(peak[0] / 1024), stdout)


def _pipeline(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.coldrun", description=__doc__)
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="corpus folder (default ../shared/corpus)")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--retag-model", default=None, help="another model file: measure re-tagging the whole store")
    ap.add_argument("--rounds", type=int, default=3,
                    help="how many times the naive baseline and the cold run alternate (default 3): this VM's "
                         "speed drifts by up to a quarter between minutes, so one pair's ratio says little")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    if not (corpus / "mananeras").is_dir():
        raise SystemExit(f"no corpus at {corpus}")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="topics-coldrun-"))
    from pipeline.readers import iter_files

    files, _ = iter_files([str(corpus)])
    held_out = sorted(f for f in files if "/mananeras/" in f)[-1]  # the last day: the incremental run adds it
    inbox = work / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    for f in files:
        if f != held_out:
            dst = inbox / Path(f).relative_to(corpus)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(f)
    results: dict[str, Measured] = {}
    store = work / "store"
    pairs = []
    for k in range(max(1, args.rounds)):
        print(f"round {k + 1}: naive baseline, then a cold run with snapshots ...", flush=True)
        naive_k = measure([sys.executable, "-c", NAIVE, str(corpus)])
        shutil.rmtree(store, ignore_errors=True)
        pairs.append((naive_k, measure(_pipeline("run", "--input", str(inbox), "--store", str(store), "--json"))))
    # The median round (by ratio) stands for the sitting; every round is printed below it.
    pairs.sort(key=lambda p: p[1].wall / p[0].wall)
    results["naive baseline (pandas + regex, nothing stored)"], results["cold run, snapshots included"] = \
        pairs[len(pairs) // 2]
    shutil.rmtree(store, ignore_errors=True)
    print("cold run without snapshots ...", flush=True)
    results["cold run without snapshots"] = measure(
        _pipeline("run", "--input", str(inbox), "--store", str(store), "--json", "--no-snapshots"))
    print("snapshots alone ...", flush=True)
    results["snapshots alone (every week of the store above)"] = measure(
        _pipeline("snapshot", "--all", "--store", str(store)))
    (inbox / "new-day").mkdir()
    (inbox / "new-day" / Path(held_out).name).symlink_to(held_out)
    print("one new day ...", flush=True)
    results["one new day (a mañanera of 657 statements)"] = measure(
        _pipeline("run", "--input", str(inbox), "--store", str(store), "--json"))
    print("rerun, nothing new ...", flush=True)
    results["rerun, nothing new"] = measure(_pipeline("run", "--input", str(inbox), "--store", str(store), "--json"))
    if args.retag_model:
        # As after `train`, which writes the model's compiled form at once: without it the run
        # builds it from the skops file first (before session 27's fix each worker did, 1.06 GB PSS
        # on the corpus), which a re-tag after `train` or a retrain does not pay.
        subprocess.run([sys.executable, "-c", "import sys; from pipeline.tagger import load_model; "
                        "load_model(sys.argv[1])", args.retag_model], check=True)
        print("re-tag with another model ...", flush=True)
        results["re-tag the whole store with another model"] = measure(
            _pipeline("run", "--input", str(inbox), "--store", str(store), "--json", "--no-snapshots",
                      "--model", args.retag_model))
    naive = results["naive baseline (pandas + regex, nothing stored)"].wall
    print("\n| what | wall | × naive | CPU (all processes) | peak memory, all processes (PSS / RSS) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, m in results.items():
        print(f"| {label} | {m.wall:.2f} s | {m.wall / naive:.1f} | {m.cpu:.1f} s | "
              f"{m.peak_pss_mb:,.0f} / {m.peak_rss_mb:,.0f} MB |")
    ratios = [c.wall / n.wall for n, c in pairs]
    each = ", ".join(f"{c.wall:.2f} s / {n.wall:.2f} s = {c.wall / n.wall:.1f}×" for n, c in pairs)
    print(f"\ncold run with snapshots against the naive baseline, {len(pairs)} alternating rounds (the table "
          f"shows the median round): {each}; median {ratios[len(ratios) // 2]:.1f}×")
    if args.json:
        print(json.dumps({k: {**asdict(v), "stdout": v.stdout[-500:]} for k, v in results.items()}
                         | {"rounds": [{"naive": n.wall, "cold": c.wall} for n, c in pairs]}))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
