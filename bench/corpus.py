"""Benchmark on the real corpus: `python -m bench [--corpus DIR] [--scales 1,2,5,10]`.

Measures a cold run over the whole corpus, an incremental run adding one new day, the
dashboard's queries at several corpus sizes (the store replicated with shifted dates), and a
naive baseline a user might write instead (pandas + regular expressions). Writes the tables to
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.browser import CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def _spawn(cmd: list[str]) -> tuple[float, int, str, str, float]:
    """Run a command: (seconds, exit code, stdout, stderr, peak RSS in MB of the largest process of
    its tree). The child is reaped with ``os.wait4`` for its own resource usage; ``RUSAGE_CHILDREN``
    would give the maximum over every child the benchmark ever ran."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return secs, proc.returncode, out.read(), err.read(), usage.ru_maxrss / 1024


def _child_run(args: list[str]) -> tuple[float, dict, float]:
    """A pipeline command in a child process: (seconds, its JSON output, peak RSS in MB)."""
    secs, code, stdout, stderr, rss = _spawn([sys.executable, "-m", *args])
    if code not in (0, 3):
        raise SystemExit(f"benchmark step failed: {' '.join(args)}\n{stderr}")
    return secs, (json.loads(stdout) if stdout.strip().startswith("{") else {}), rss


def _size_mb(store: Path) -> float:
    return sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 2**20


def _latency(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def query_latencies(store_dir: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Median and 95th percentile (ms) of the dashboard's main queries, each on a fresh connection."""
    from pipeline import queries, snapshot, store

    conn = store.open_readonly(store_dir)
    last_day = queries.facets(conn)["date_max"]
    conn.close()
    monday = last_day - dt.timedelta(days=last_day.weekday() + 7)  # the Monday of the week before the last
    week = snapshot.week_label(monday)

    def fresh(fn):
        def run():
            c = store.open_readonly(store_dir)
            try:
                fn(c)
            finally:
                c.close()
        return run

    f_all = queries.Filters()
    f_search = queries.Filters(search="fentanilo")
    f_week = queries.Filters(date_from=monday, date_to=monday + dt.timedelta(days=6))
    return {
        "trend by week, all topics": _latency(fresh(lambda c: queries.trend(c, f_all, "week")), repeat),
        "trend by week + full-text search": _latency(fresh(lambda c: queries.trend(c, f_search, "week")), repeat),
        "drill-down page (20 statements + count)": _latency(
            fresh(lambda c: queries.statements(c, f_week, topic="security", limit=20)), repeat),
        "weekly snapshot numbers": _latency(fresh(lambda c: snapshot.compute(c, week)), max(3, repeat // 4)),
    }


def tagging_speed(store_dir: Path, batch: int = 5000) -> dict[int, tuple[int, float]]:
    """Statements tagged per second over every stored statement (real corpus text), with one
    process and with two (``tag_batch`` in a process pool, as Dask or Spark would run it)."""
    from concurrent.futures import ProcessPoolExecutor

    from pipeline import queries, store
    from pipeline.tagger import DEFAULT_MODEL, load_model, tag_batch

    conn = store.open_readonly(store_dir)
    texts = queries.texts(conn)
    conn.close()
    chunks = [texts[i:i + batch] for i in range(0, len(texts), batch)]
    model = load_model(str(DEFAULT_MODEL))
    t0 = time.perf_counter()
    for c in chunks:
        model.tag(c)
    out = {1: (len(texts), time.perf_counter() - t0)}
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(tag_batch, chunks[:2]))  # start the workers and load the model in each
        t0 = time.perf_counter()
        n = sum(len(r) for r in pool.map(tag_batch, chunks))
        out[2] = (n, time.perf_counter() - t0)
    return out


def replicate(src: Path, dst: Path, times: int) -> None:
    """A store `times` as large: the statements copied with dates shifted by whole multiples of the span."""
    from pipeline import store

    shutil.copytree(src, dst)
    conn = store.open_store(dst)
    try:
        store.replicate_shifted(conn, times)
    finally:
        conn.close()


NAIVE = r'''
import glob, re, sys, time, pandas as pd
t0 = time.time()
rows = []
for f in glob.glob(sys.argv[1] + "/**/*.*", recursive=True):
    if not f.endswith((".txt", ".md")):
        continue
    text = open(f, encoding="utf-8-sig").read()
    date = re.search(r"(\d{4}-\d{2}-\d{2})", f)
    for para in re.split(r"\n\s*\n|\n---\n|\n", text):
        if para.strip():
            rows.append((date.group(1) if date else None, para))
df = pd.DataFrame(rows, columns=["date", "text"])
pats = {"security": r"segur|fentan|cartel|crimen|crime|violen|narco|drug",
        "trade": r"arancel|tariff|t-mec|usmca|comercio|trade|export|import",
        "migration": r"migra|asylum|asilo|deport|remesa|remittance|border|frontera",
        "sovereignty": r"soberan|sovereign|injerencia|intervenc"}
low = df["text"].str.lower()
for t, p in pats.items():
    df[t] = low.str.contains(p, regex=True)
df["week"] = pd.to_datetime(df["date"]).dt.to_period("W")
df.groupby("week")[list(pats)].sum()
print(len(df), time.time() - t0)
'''


def naive_baseline(corpus: Path) -> tuple[float, int, float]:
    secs, code, stdout, stderr, rss = _spawn([sys.executable, "-c", NAIVE, str(corpus)])
    if code:
        raise SystemExit(f"naive baseline failed\n{stderr}")
    return secs, int(stdout.split()[0]), rss


@dataclass
class Results:
    """Everything one benchmark measured: what ``write_report`` turns into BENCHMARKS.md."""

    cold_s: float  # cold run over the corpus but its last day: seconds, statements, peak RSS (MB), store MB
    cold_n: int
    cold_rss: float
    size1: float
    inc_s: float  # incremental run (the last day added): seconds, statements
    inc_n: int
    re_s: float  # rerun with nothing new: seconds
    naive_s: float  # the naive baseline: seconds, paragraphs, peak RSS (MB)
    naive_n: int
    naive_rss: float
    part: dict[int, tuple[float, int, float]]  # cold run on 1/k of the files: seconds, statements, peak RSS
    repeat: int  # repetitions per query
    scales: list[int]  # store sizes (multiples of the corpus) the queries ran on
    lat: dict[int, dict[str, tuple[float, float]]]  # scale -> query -> median and 95th percentile (ms)
    sizes: dict[int, tuple[int, float]]  # scale -> statements, store MB
    query_rss: float  # peak RSS of the query process (MB)
    tag_speed: dict[int, tuple[int, float]]  # processes -> statements, seconds
    ui: dict[str, tuple[float, float]] = field(default_factory=dict)  # interaction -> median, worst (ms)
    ui_error: str = ""  # why the browser timings are missing, when they are


def _statements(store_dir: Path) -> int:
    from pipeline import queries, store

    conn = store.open_readonly(store_dir)
    try:
        return queries.facets(conn)["statements"]
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="corpus folder (default ../shared/corpus)")
    ap.add_argument("--scales", default="1,2,5,10", help="store sizes for the query benchmark (default 1,2,5,10)")
    ap.add_argument("--repeat", type=int, default=20, help="repetitions per query (default 20)")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="file to write (default BENCHMARKS.md)")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    if not (corpus / "mananeras").is_dir():
        raise SystemExit(f"no corpus at {corpus}")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="topics-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    from pipeline.readers import iter_files

    files, _ = iter_files([str(corpus)])
    mananeras = sorted(f for f in files if "/mananeras/" in f)
    held_out = mananeras[-1]  # the last day: the incremental run adds it
    inbox = work / "inbox"
    if inbox.exists():
        shutil.rmtree(inbox)
    for f in files:
        if f == held_out:
            continue
        dst = inbox / Path(f).relative_to(corpus)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(f)
    store1 = work / "x1" / "store"
    shutil.rmtree(store1.parent, ignore_errors=True)
    print("cold run ...", flush=True)
    cold_s, cold, cold_rss = _child_run(["pipeline", "run", "--input", str(inbox), "--store", str(store1),
                                         "--json"])
    cold_n = cold["statements_added"]
    size1 = _size_mb(store1)
    print(f"  {cold_s:.1f} s, {cold_n} statements", flush=True)
    (inbox / "new-day").mkdir()
    (inbox / "new-day" / Path(held_out).name).symlink_to(held_out)
    print("incremental run ...", flush=True)
    inc_s, inc, _ = _child_run(["pipeline", "run", "--input", str(inbox), "--store", str(store1), "--json"])
    print("rerun (nothing new) ...", flush=True)
    re_s, _, _ = _child_run(["pipeline", "run", "--input", str(inbox), "--store", str(store1), "--json"])
    print("naive baseline ...", flush=True)
    naive_s, naive_n, naive_rss = naive_baseline(corpus)
    # Linearity of the pipeline: cold runs on every 4th and every 2nd file (same mix of sources).
    part: dict[int, tuple[float, int, float]] = {}
    for k in (4, 2):
        sub = work / f"part{k}"
        shutil.rmtree(sub, ignore_errors=True)
        for f in files[::k]:
            dst = sub / "inbox" / Path(f).relative_to(corpus)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(f)
        print(f"cold run on 1/{k} of the files ...", flush=True)
        s_, out_, rss_ = _child_run(["pipeline", "run", "--input", str(sub / "inbox"), "--store",
                                     str(sub / "store"), "--json"])
        part[k] = (s_, out_["statements_added"], rss_)
        shutil.rmtree(sub, ignore_errors=True)
    scales = [int(x) for x in args.scales.split(",")]
    lat: dict[int, dict] = {}
    sizes: dict[int, tuple[int, float]] = {}
    for k in scales:
        sk = store1 if k == 1 else work / f"x{k}" / "store"
        if k != 1:
            shutil.rmtree(sk.parent, ignore_errors=True)
            sk.parent.mkdir(parents=True)
            print(f"replicating the store x{k} ...", flush=True)
            replicate(store1, sk, k)
        sizes[k] = (_statements(sk), _size_mb(sk))
        print(f"queries at x{k} ({sizes[k][0]} statements) ...", flush=True)
        lat[k] = query_latencies(sk, args.repeat)
    query_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before tagging and the browser add theirs
    print("tagging speed ...", flush=True)
    tag_speed = tagging_speed(store1)
    ui: dict[str, tuple[float, float]] = {}
    ui_error = ""
    if CHROMIUM.exists():
        print("dashboard in a browser ...", flush=True)
        # In a process of its own: the browser, its event loop and the server start from a clean
        # slate, and a failure there cannot lose the numbers above.
        r = subprocess.run([sys.executable, "-m", "bench.interactions", "--store", str(store1),
                            "--repeat", str(max(3, args.repeat // 4)), "--json"],
                           capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if r.returncode == 0:
            ui = {k: tuple(v) for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}
        else:
            ui_error = (r.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"dashboard in a browser failed: {ui_error}", flush=True)
    write_report(Path(args.output), Results(
        cold_s=cold_s, cold_n=cold_n, cold_rss=cold_rss, size1=size1, inc_s=inc_s, inc_n=inc["statements_added"],
        re_s=re_s, naive_s=naive_s, naive_n=naive_n, naive_rss=naive_rss, part=part, repeat=args.repeat,
        scales=scales, lat=lat, sizes=sizes, query_rss=query_rss, tag_speed=tag_speed, ui=ui, ui_error=ui_error))
    print(f"wrote {args.output}")
    return 0


def write_report(path: Path, r: Results) -> None:
    """BENCHMARKS.md from the results; notes below a "<!-- notes -->" line in the old file are kept."""
    lines = [
        "# Benchmarks",
        "",
        f"Measured {dt.date.today().isoformat()} with `python -m bench` on this machine "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}); "
        "rerun it to refresh these tables. Corpus: `../shared/corpus` (1,645 mañaneras, 1,409 White House "
        "documents).",
        "",
        "## Pipeline",
        "",
        "| run | wall time | statements | statements/s | peak RSS (largest process) | store size |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| cold run, whole corpus but its last day (2 worker processes, weekly snapshots included) | "
        f"{r.cold_s:.1f} s | {r.cold_n:,} | {r.cold_n / r.cold_s:,.0f} | {r.cold_rss:,.0f} MB | "
        f"{r.size1:,.0f} MB |",
        f"| incremental run: one new day on the full store | {r.inc_s:.2f} s | "
        f"{r.inc_n:,} | | | |",
        f"| rerun with nothing new (3,054 files checked by size and modification time) | {r.re_s:.2f} s | 0 "
        "| | | |",
        f"| naive baseline: pandas reads every file, regex-tags, groups by week (no store, no speakers, "
        f"no search) | {r.naive_s:.1f} s | {r.naive_n:,} paragraphs | {r.naive_n / r.naive_s:,.0f} | "
        f"{r.naive_rss:,.0f} MB | — |",
        "",
        "Wall times include starting Python and loading the model. Peak RSS is that of the largest "
        "process (the writer or a worker); memory does not grow with the corpus because files are read, "
        "tagged and committed in batches.",
        "",
        "### Cost against corpus size (cold runs on part of the files, same mix of sources)",
        "",
        "| files | statements | wall time | statements/s | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| 1/{k} of the files | {n:,} | {secs:.1f} s | {n / secs:,.0f} | {rss:,.0f} MB |"
          for k, (secs, n, rss) in sorted(r.part.items(), reverse=True)],
        f"| all files | {r.cold_n:,} | {r.cold_s:.1f} s | {r.cold_n / r.cold_s:,.0f} | "
        f"{r.cold_rss:,.0f} MB |",
        "",
        "### Tagging alone (every stored statement of the corpus, real text)",
        "",
        "| processes | statements | seconds | statements/s |",
        "| ---: | ---: | ---: | ---: |",
        *[f"| {k} | {n:,} | {secs:.1f} | {n / secs:,.0f} |" for k, (n, secs) in sorted(r.tag_speed.items())],
        "",
        "## Dashboard queries",
        "",
        "Median / 95th percentile in milliseconds over "
        f"{r.repeat} runs, each on a fresh read-only connection. Larger stores are the corpus "
        "replicated with dates shifted by whole multiples of its span.",
        "",
    ]
    scales = r.scales
    lines.append("| query | " + " | ".join(f"×{k} ({r.sizes[k][0] / 1e6:.2f} M statements)" for k in scales)
                 + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in scales) + " |")
    for q in r.lat[scales[0]]:
        lines.append(f"| {q} | " + " | ".join(f"{r.lat[k][q][0]:.0f} / {r.lat[k][q][1]:.0f}" for k in scales)
                     + " |")
    lines.append("| store size | " + " | ".join(f"{r.sizes[k][1]:,.0f} MB" for k in scales) + " |")
    lines += ["", f"Peak RSS of the query process across all sizes: {r.query_rss:,.0f} MB.", ""]
    if r.ui:
        lines += ["## Dashboard in a browser (full corpus store)", "",
                  "Each interaction timed from the user's action (click, typing, a link) to the finished render "
                  "(Streamlit's script run over and the awaited element drawn), in headless Chromium driven by "
                  "Playwright (`python -m bench.interactions --store DIR` runs this alone). Median and worst "
                  "of the timed rounds, after a warm-up round.", "",
                  "| interaction | median | worst |", "| --- | ---: | ---: |",
                  *[f"| {name} | {med:,.0f} ms | {worst:,.0f} ms |" for name, (med, worst) in r.ui.items()],
                  ""]
    if r.ui_error:
        lines += ["## Dashboard in a browser (full corpus store)", "",
                  f"Not measured in this run: {r.ui_error}. `python -m bench.interactions --store DIR` "
                  "measures it alone.", ""]
    text = path.read_text() if path.exists() else ""
    notes = ""
    if "<!-- notes -->" in text:
        notes = text[text.index("<!-- notes -->"):]
    path.write_text("\n".join(lines) + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    sys.exit(main())
