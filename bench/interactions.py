"""Dashboard interactions timed in a real browser: `python -m bench.interactions --store DIR`.

Starts the dashboard on the store, drives Debian's Chromium with Playwright (dashboard/browser.py),
and times each interaction from the user's action to the finished render. Part of `python -m bench`
(which runs it in a process of its own) for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

from dashboard.browser import BROWSER_ARGS, CHROMIUM, POINT, after_rerun, open_page, serve

BAND = ".js-plotly-plot .scatterlayer path.js-fill"  # the corrected share's 95 % band
SWITCH_CORRECTED = "switch shares to corrected shares (band, warnings, drift marks)"


def interactions(url: str) -> list[tuple[str, Callable]]:
    """A user's round through the dashboard: (name, step) pairs, each step starting where the
    previous one left the page. The first opens a new session; the others are clicks and typing."""

    def fresh_trends(page):
        open_page(page, url + "/", POINT)

    def click_text(text: str, selector: str):
        def step(page):
            after_rerun(page, lambda: page.get_by_text(text, exact=True).first.click(), selector)
        return step

    def search(page):
        box = page.locator('input[aria-label="Search text"]')

        def act():
            box.fill("fentanilo")
            box.press("Enter")
        after_rerun(page, act, POINT)

    def drill(page):
        points = page.locator(POINT)
        after_rerun(page, lambda: points.nth(points.count() // 2).click(force=True), "div.stmt")

    def nav(label: str, selector: str):
        def step(page):
            link = page.locator("[data-testid='stSidebarNav'] a", has_text=label)
            after_rerun(page, lambda: link.click(), selector)
        return step

    return [("open the dashboard (new session, trends page)", fresh_trends),
            ("switch counts to shares", click_text("share", POINT)),
            (SWITCH_CORRECTED, click_text("corrected", BAND)),
            ("switch corrected shares back to shares", click_text("share", POINT)),
            ("switch weeks to months", click_text("month", POINT)),
            ("select a point: drill-down with its statements", drill),
            ("full-text search in the sidebar (chart follows)", search),
            ("go to the statements page (search kept)", nav("Statements", "div.stmt")),
            ("go to the compare page", nav("Compare", ".js-plotly-plot")),
            ("go to the weekly page", nav("Weekly", ".js-plotly-plot")),
            ("back to the trends page", nav("Trends", POINT))]


def measure(store_dir: str | os.PathLike, repeat: int = 5) -> dict[str, tuple[float, float]]:
    """Median and worst time (ms) of each interaction over ``repeat`` rounds, after one warm-up round
    (the first load of a fresh server also pays for imports and the data caches filling)."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {}
    with serve(store_dir) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        first = time.perf_counter()
        open_page(page, url + "/", POINT, timeout=120_000)
        times["first load after the server starts (warm-up)"] = [(time.perf_counter() - first) * 1000]
        for round_ in range(repeat + 1):
            for name, step in interactions(url):
                t0 = time.perf_counter()
                try:
                    step(page)
                except Exception as exc:
                    raise RuntimeError(f"round {round_}, {name!r}: {exc}") from exc
                if round_:  # round 0 warms the caches
                    times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        browser.close()
    return {k: (statistics.median(v), max(v)) for k, v in times.items()}


def corrected_latencies(store_dir: str | os.PathLike, repeat: int = 5) -> dict[str, tuple[float, float]]:
    """Median and 95th percentile (ms) of what the corrected measure costs on a store, uncached: the
    weekly trend of every topic with corrected shares and 95 % intervals, the Compare page's
    corrected shares by source, the drift table; each on a fresh connection, as the dashboard runs
    them on a cache miss. The audit sample is loaded once first (the dashboard keeps it) and timed."""
    from pipeline import audit, queries, settings, store
    from pipeline.tagger import load_model

    def timed(fn, n: int) -> tuple[float, float]:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]

    def fresh(fn):
        def run():
            conn = store.open_readonly(store_dir)
            try:
                return fn(conn)
            finally:
                conn.close()
        return run

    t0 = time.perf_counter()
    model = load_model(settings.get("model"))
    sample = audit.load(model)
    loaded = (time.perf_counter() - t0) * 1000
    f = queries.Filters()
    out = {"load the model and score the audit sample (once per server)": (loaded, loaded)}
    fresh(lambda c: queries.corrected_trend(c, f, sample, "week"))()  # the audit's rates, fitted once
    out["weekly trend, all topics, corrected shares with 95 % intervals"] = timed(
        fresh(lambda c: queries.corrected_trend(c, f, sample, "week")), repeat)
    out["monthly trend, all topics, corrected shares with 95 % intervals"] = timed(
        fresh(lambda c: queries.corrected_trend(c, f, sample, "month")), repeat)
    out["corrected shares by source over all dates (Compare)"] = timed(
        fresh(lambda c: queries.corrected_totals(c, f, sample, "source")), repeat)
    out["drift per source and quarter (once per store version)"] = timed(
        fresh(lambda c: audit.drift(c, sample, model)), max(1, repeat // 5))
    return out


def corrected_switch(store_dir: str | os.PathLike, repeat: int = 5) -> dict[str, tuple[float, float]]:
    """The user's switch from shares to corrected shares on Trends, in Chromium: the first one after
    the server starts (the model and audit sample load, the drift table is computed) and then
    ``repeat`` more, each in a new session (median and worst, ms); beside it, for reference under the
    same load, the switch from counts to shares just before it."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"switch counts to shares (reference)": [], SWITCH_CORRECTED: []}
    with serve(store_dir) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for _ in range(repeat + 1):
            open_page(page, url + "/", POINT, timeout=120_000)
            for name, label, selector in (("switch counts to shares (reference)", "share", POINT),
                                          (SWITCH_CORRECTED, "corrected", BAND)):
                t0 = time.perf_counter()
                after_rerun(page, lambda label=label: page.get_by_text(label, exact=True).first.click(), selector,
                            timeout=180_000)
                times[name].append((time.perf_counter() - t0) * 1000)
        browser.close()
    first = times[SWITCH_CORRECTED][0]
    return {"first switch to corrected after the server starts": (first, first),
            **{k: (statistics.median(v[1:]), max(v[1:])) for k, v in times.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.interactions", description=__doc__)
    ap.add_argument("--store", required=True, help="store folder to serve")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds of every interaction (default 5)")
    ap.add_argument("--json", action="store_true", help="print {interaction: [median ms, worst ms]} as JSON")
    ap.add_argument("--corrected", action="store_true",
                    help="instead: time the corrected measure only (its queries uncached: median / p95 ms; "
                         "the switch to it in Chromium: median / worst ms)")
    args = ap.parse_args(argv)
    if args.corrected:
        result = {**corrected_latencies(args.store, args.repeat), **corrected_switch(args.store, args.repeat)}
    else:
        result = measure(args.store, args.repeat)
    if args.json:
        print(json.dumps(result))
        return 0
    for name, (med, worst) in result.items():
        print(f"{med:8.0f} ms median {worst:8.0f} ms {'p95/worst' if args.corrected else 'worst'}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
