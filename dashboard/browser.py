"""The real dashboard in a real browser: serve it on a free port (through the launcher users start)
and drive Debian's Chromium with Playwright until a page, or the rerun a widget change causes, is
rendered: the script run is over (Streamlit's ``data-test-script-state`` back to ``notRunning``) and
the element the user waits for is drawn. Used by the browser tests and by the benchmark
(``python -m bench.interactions``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Counts finished script runs: a run is over when an app's script state leaves "running". An
# observer sees every change of the attribute, however short the run, on whatever element holds
# it (a page switch may replace the app's root element). Polling the attribute instead missed
# whole runs when the browser was busy, and the harness then waited in vain.
_WATCH = """() => {
  if (window.__runsWatched) return;
  window.__runsWatched = true; window.__runs = 0;
  new MutationObserver(records => {
    for (const r of records) if (r.oldValue && r.oldValue !== 'notRunning') window.__runs += 1;
  }).observe(document.documentElement, {subtree: true, attributes: true, attributeOldValue: true,
                                         attributeFilter: ['data-test-script-state']});
}"""
_IDLE = "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state') " \
        "=== 'notRunning'"


def free_port(ports: str = "") -> int:
    """A free localhost port: any, or the first free one of ``ports`` (a range, ``8630-8639``: a
    shared machine whose users keep to their own ports)."""
    candidates = [0]
    if ports.strip():
        low, _, high = ports.strip().partition("-")
        candidates = list(range(int(low), int(high or low) + 1))
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in {ports}")


@contextmanager
def serve(store_dir: str | os.PathLike, log: Path | None = None, ports: str = "") -> Iterator[str]:
    """The real dashboard on a free localhost port (of ``ports``, a range, when given), for as long as
    the block runs; yields its URL."""
    port = free_port(ports)
    # Through the launcher users start (python -m dashboard), with its settings.
    env = dict(os.environ, TOPICS_STORE=str(store_dir), PYTHONPATH=str(ROOT), TOPICS_HOST="127.0.0.1",
               TOPICS_PORT=str(port))
    out = log.open("w") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "dashboard"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"dashboard did not start{': ' + log.read_text() if log else ''}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def open_page(page, url: str, selector: str, timeout: float = 60_000) -> None:
    """Navigate, wait for the first script run to finish and ``selector`` to be drawn."""
    page.goto(url)
    page.wait_for_function(_IDLE, timeout=timeout)
    page.wait_for_selector(selector, timeout=timeout)
    page.evaluate(_WATCH)


def after_rerun(page, action: Callable[[], None], selector: str, timeout: float = 60_000) -> None:
    """Do ``action`` (a widget change), then wait for the rerun it causes and for ``selector``."""
    page.evaluate(_WATCH)
    before = page.evaluate("() => window.__runs")
    action()
    page.wait_for_function(f"() => window.__runs > {before}", timeout=timeout)
    page.wait_for_function(_IDLE, timeout=timeout)
    page.wait_for_selector(selector, timeout=timeout)


POINT = ".js-plotly-plot .scatterlayer .point"
