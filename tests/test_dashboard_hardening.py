"""Dashboard hardening (issue #12): fresh data after a run, escaped metadata, URL parameters.

Every test drives the real app through Streamlit's AppTest against a real store built by
`python -m pipeline run`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, run_cli

APP = str(ROOT / "dashboard" / "app.py")


def _records(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _app(store: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOPICS_STORE", str(store))
    return AppTest.from_file(APP, default_timeout=60)


def test_a_new_session_after_a_second_run_shows_the_new_source_and_dates(seed_store_copy, tmp_path, monkeypatch):
    # The earlier check read the store directly (queries.facets), and the page tests clear the
    # cache before each test, so neither saw what a viewer sees: the cached facets of the
    # first session. Here the cache is left as the first session filled it.
    st.cache_data.clear()
    first = _app(seed_store_copy, monkeypatch).run()
    assert not first.exception, first.exception
    assert "Newsroom" not in first.multiselect(key="source").options
    assert first.date_input(key="dates").value[0] == dt.date(2025, 1, 20)

    more = _records(tmp_path / "more.jsonl", [
        {"date": "2024-03-04", "source": "Newsroom", "speaker": "Reporter",
         "text": "The new tariffs on steel imports will be discussed with the trade ministers next week."},
    ])
    r = run_cli("run", "--input", str(more), "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr

    second = _app(seed_store_copy, monkeypatch).run()
    assert not second.exception, second.exception
    assert "Newsroom" in second.multiselect(key="source").options
    assert second.date_input(key="dates").value[0] == dt.date(2024, 3, 4)
    second.switch_page("views/status.py").run()
    assert not second.exception, second.exception
    assert "2024-03-04" in [m.value for m in second.metric]
    by_source = second.dataframe[0].value
    assert "Newsroom" in list(by_source.iloc[:, 0])


# --- metadata is text, never Markdown (issue #12, item 4) ---------------------------------------

PIXEL = "![x](http://127.0.0.1:9/pixel.png)"
EVIL_ROWS = [
    # An image in a speaker name, a title that closes a link, a javascript: url.
    {"date": "2026-01-13", "source": "Evil press office", "speaker": PIXEL, "title": "](javascript:alert(1))",
     "url": "javascript:alert(1)",
     "text": "El tráfico de fentanilo y de armas en la frontera es un asunto de seguridad nacional."},
    # An http url that tries to leave its link and add an image; a source with a javascript: link.
    {"date": "2026-01-13", "source": "Wire [desk](javascript:alert(3))", "speaker": "Reporter",
     "title": "Tariffs", "url": "http://example.org/a) ![y](http://127.0.0.1:9/url.png",
     "text": "Los aranceles al acero y el comercio con Estados Unidos se revisan esta semana."},
    # Statement text with a blank line: what follows it must not become Markdown either.
    {"date": "2026-01-14", "source": "Evil press office", "speaker": "Reporter", "title": "", "url": "",
     "text": "La seguridad en la frontera y el fentanilo.\n\n![z](http://127.0.0.1:9/text.png) fin."},
    # Cells a spreadsheet would run as formulas (item 5).
    {"date": "2026-01-14", "source": "@Desk", "speaker": "@SUM(1+1)", "title": "", "url": "",
     "text": '=HYPERLINK("http://127.0.0.1:9/x","aranceles y comercio")'},
    {"date": "2026-01-14", "source": "Evil press office", "speaker": "Reporter", "title": "", "url": "",
     "text": "+1 y -2 sobre los aranceles al comercio exterior y la seguridad."},
]
LITERALS = [PIXEL, "](javascript:alert(1))", "Wire [desk](javascript:alert(3))", "![z](http://127.0.0.1:9/text.png)"]


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory) -> Path:
    """A store whose metadata and texts try Markdown, image and formula injection."""
    folder = tmp_path_factory.mktemp("evil")
    src = _records(folder / "evil.jsonl", EVIL_ROWS)
    store = folder / "store"
    r = run_cli("run", "--input", str(src), "--store", str(store), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    return store


def _unsafe_markdown(src: str) -> list[str]:
    """Images, and links to anything but http(s), that a Markdown renderer would make of ``src``."""
    import re

    unescaped = r"(?<!\\)"
    images = re.findall(unescaped + r"!" + unescaped + r"\[", src)
    links = re.findall(unescaped + r"\]\((?!https?://)[^)]*\)?", src)
    return images + links


def _markdown_sources(at: AppTest) -> list[str]:
    """What the page renders as Markdown (HTML blocks, allow_html, are checked apart)."""
    elements = [m for m in at.markdown if not m.proto.allow_html] + list(at.caption) + list(at.subheader)
    return [e.value for e in elements + list(at.warning)]


def test_statements_page_shows_metadata_as_text_not_markdown(evil_store, monkeypatch):
    at = _app(evil_store, monkeypatch).run()
    at.switch_page("views/explore.py").run()
    assert not at.exception, at.exception
    sources = _markdown_sources(at)
    assert [s for s in sources if _unsafe_markdown(s)] == []
    # Statement text is an HTML block: a blank line would end it and turn the rest into Markdown.
    html_blocks = [m.value for m in at.markdown if m.proto.allow_html]
    assert html_blocks and not [b for b in html_blocks if "\n\n" in b or "<img" in b.lower()]


def test_weekly_page_quotes_show_metadata_as_text_not_markdown(evil_store, monkeypatch):
    at = _app(evil_store, monkeypatch).run()
    at.switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    sources = _markdown_sources(at)
    assert any(PIXEL in s.replace("\\", "") for s in sources)  # the quotes are there, as text
    assert [s for s in sources if _unsafe_markdown(s)] == []


def _page_is_inert(page, literals: list[str]) -> None:
    """No image, no javascript: link, and every injected string shown as written."""
    main = page.locator("[data-testid='stMain']")
    assert main.locator("img").count() == 0
    hrefs = page.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert [h for h in hrefs if not h.startswith(("http://", "https://", "/", "#", "?"))] == [], hrefs
    text = main.inner_text()
    for literal in literals:
        assert literal in text, literal


def test_browser_renders_injected_metadata_as_plain_text(evil_store, page, tmp_path):
    from dashboard.browser import open_page, serve

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    with serve(evil_store, tmp_path / "streamlit.log") as url:
        open_page(page, url + "/statements", "div.stmt")
        _page_is_inert(page, LITERALS)
        open_page(page, url + "/weekly", "[data-testid='stExpander']")
        for header in page.locator("[data-testid='stExpander'] summary").all():
            header.click()
        page.wait_for_selector("blockquote")
        _page_is_inert(page, [PIXEL, "](javascript:alert(1))", "![z](http://127.0.0.1:9/text.png)"])
    assert [u for u in requests if "127.0.0.1:9" in u] == []


# --- CSV cells a spreadsheet would run are neutralised (issue #12, item 5) -----------------------

FORMULAS = {'=HYPERLINK("http://127.0.0.1:9/x","aranceles y comercio")': "text", "@SUM(1+1)": "speaker_raw",
            "+1 y -2 sobre los aranceles al comercio exterior y la seguridad.": "text", "@Desk": "source"}


def _csv_rows(data: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(data)))


def _assert_neutralised(rows: list[dict], formulas: dict[str, str] = FORMULAS) -> None:
    """Each formula-like cell starts with a single quote; no cell starts with = + - @ tab or CR."""
    for value, column in formulas.items():
        assert "'" + value in [r[column] for r in rows], (value, column)
    risky = [v for r in rows for v in r.values() if v and v[0] in "=+-@\t\r"]
    assert risky == []


def test_export_csv_neutralises_formula_cells_and_jsonl_stays_raw(evil_store, tmp_path):
    out = tmp_path / "x.csv"
    r = run_cli("export", "--store", str(evil_store), "--output", str(out))
    assert r.returncode == 0, r.stderr
    raw = out.read_text(encoding="utf-8")
    rows = _csv_rows(raw)
    assert len(rows) == len(EVIL_ROWS)
    _assert_neutralised(rows)
    # Embedded quotes are doubled inside a quoted cell (RFC 4180), so the cell cannot be split.
    assert '"\'=HYPERLINK(""http://127.0.0.1:9/x"",""aranceles y comercio"")"' in raw
    jsonl = tmp_path / "x.jsonl"
    assert run_cli("export", "--store", str(evil_store), "--output", str(jsonl)).returncode == 0
    texts = [json.loads(x)["text"] for x in jsonl.read_text(encoding="utf-8").splitlines()]
    assert '=HYPERLINK("http://127.0.0.1:9/x","aranceles y comercio")' in texts


def test_snapshot_statements_csv_neutralises_formula_cells(evil_store, tmp_path):
    r = run_cli("snapshot", "--store", str(evil_store), "--week", "2026-W03", "--out", str(tmp_path / "snaps"))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = _csv_rows((tmp_path / "snaps" / "2026-W03" / "statements.csv").read_text(encoding="utf-8"))
    assert len(rows) == len(EVIL_ROWS)
    _assert_neutralised(rows)


def _download(page, label: str) -> str:
    from dashboard.browser import _IDLE

    # Click only once the page's script run is over: a button clicked while the run is still
    # drawing the page can be replaced under the click.
    page.wait_for_function(_IDLE, timeout=90_000)
    button = page.get_by_role("button", name=label)
    button.wait_for(state="visible", timeout=90_000)
    with page.expect_download(timeout=90_000) as info:
        button.click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def test_dashboard_downloads_neutralise_formula_cells(evil_store, page, tmp_path):
    from dashboard.browser import open_page, serve

    with serve(evil_store, tmp_path / "streamlit.log") as url:
        open_page(page, url + "/statements", "div.stmt")
        rows = _csv_rows(_download(page, "Download these statements (CSV)"))
        assert len(rows) == len(EVIL_ROWS)
        _assert_neutralised(rows, {k: v for k, v in FORMULAS.items() if v != "speaker_raw"})
        open_page(page, url + "/compare", ".js-plotly-plot")
        rows = _csv_rows(_download(page, "Download chart data (CSV)"))
        _assert_neutralised(rows, {"@Desk": "source"})


# --- the launcher: localhost, private, wherever it starts (issue #12, item 8) --------------------


def _non_loopback_ipv4() -> list[str]:
    import psutil

    return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family.name == "AF_INET" and not a.address.startswith("127.")]


def test_launcher_from_another_folder_listens_on_localhost_only_and_shows_no_error_details(
        seed_store_copy, page, tmp_path):
    import os
    import socket
    import sqlite3
    import subprocess
    import sys
    import time

    import psutil

    from dashboard.browser import POINT, free_port, open_page
    from pipeline import store

    # A store the Store page cannot read (a table is missing): its query raises.
    with sqlite3.connect(store.db_path(seed_store_copy)) as c:
        c.execute("DROP TABLE refusals")
    port = free_port()
    env = dict(os.environ, TOPICS_STORE=str(seed_store_copy), TOPICS_PORT=str(port), PYTHONPATH=str(ROOT))
    env.pop("TOPICS_HOST", None)
    log = tmp_path / "launcher.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dashboard"], cwd="/tmp", env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.2)
        listening = {c.laddr.ip for c in psutil.net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}
        for address in _non_loopback_ipv4():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()

            requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        url = f"http://127.0.0.1:{port}"
        open_page(page, url + "/", POINT)
        assert page.get_by_test_id("stAppDeployButton").count() == 0
        assert not page.get_by_text("Deploy", exact=True).is_visible()
        open_page(page, url + "/store", "[data-testid='stException']")
        shown = page.locator("[data-testid='stMain']").inner_text()
        for secret in ("Traceback", str(ROOT), "site-packages", "OperationalError", "refusals"):
            assert secret not in shown, secret
        # Nothing leaves the machine: no usage statistics, no external resource.
        assert [u for u in requests if not u.startswith(url)] == []
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_launcher_refuses_a_port_that_is_not_a_number(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, TOPICS_PORT="85O1", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "dashboard"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert "TOPICS_PORT" in r.stderr and "'85O1'" in r.stderr


def test_a_bad_min_statements_setting_is_named_by_the_launcher_and_the_trends_page(seed_store_copy, tmp_path,
                                                                                    monkeypatch):
    """TOPICS_MIN_STATEMENTS=abc broke the Trends page with a ValueError; the launcher now refuses it
    (exit 2) and a page served otherwise says which setting is wrong."""
    import os
    import subprocess
    import sys

    from streamlit.testing.v1 import AppTest

    env = dict(os.environ, TOPICS_MIN_STATEMENTS="abc", TOPICS_PORT="none", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "dashboard"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "TOPICS_PORT" in r.stderr  # the port is checked first
    env["TOPICS_PORT"] = "8501"
    r = subprocess.run([sys.executable, "-m", "dashboard"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "TOPICS_MIN_STATEMENTS" in r.stderr and "'abc'" in r.stderr
    monkeypatch.setenv("TOPICS_STORE", str(seed_store_copy))
    monkeypatch.setenv("TOPICS_MIN_STATEMENTS", "abc")
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert any("TOPICS_MIN_STATEMENTS" in e.value for e in at.error)



@pytest.mark.parametrize("args, status", [(["--help"], 0), (["--store", "/elsewhere"], 2)])
def test_launcher_takes_no_options_and_says_which_settings_it_reads(tmp_path, args, status):
    """`python -m dashboard --help` used to start a server on the default port, and `--store X` was
    ignored: the dashboard served TOPICS_STORE instead. Both now end at once, naming the settings."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TOPICS_PORT="none", PYTHONPATH=str(ROOT))   # were a server started, it would fail
    r = subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == status
    out = r.stdout if status == 0 else r.stderr
    assert "usage: python -m dashboard" in out and "TOPICS_STORE" in out
    if status:
        assert "--store" in r.stderr


# --- URL parameters and the search box (issue #12, item 12) -------------------------------------


@pytest.fixture()
def seed_app(seed_store, monkeypatch):
    return _app(seed_store, monkeypatch)


def _notices(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning).replace("\\", "")


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000, "99", "0"])
def test_rolling_that_is_not_1_to_12_falls_back_with_a_notice_on_every_page(seed_app, value):
    seed_app.query_params["rolling"] = value
    at = seed_app.run()
    assert not at.exception, at.exception
    assert "URL parameter 'rolling'" in _notices(at) and "using 1" in _notices(at)
    assert at.number_input(key="rolling").value == 1
    at.switch_page("views/explore.py").run()
    assert not at.exception, at.exception


def test_reversed_dates_are_swapped_with_a_notice(seed_app):
    seed_app.query_params["dates"] = ["2026-02-01", "2026-01-05"]
    at = seed_app.run()
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2026, 1, 5), dt.date(2026, 2, 1))
    assert "URL parameter 'dates'" in _notices(at) and "2026-01-05 to 2026-02-01" in _notices(at)


def test_dates_outside_the_store_are_clamped_with_a_notice(seed_app):
    seed_app.query_params["dates"] = ["1990-02-01", "2026-01-31"]
    at = seed_app.run()
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2025, 1, 20), dt.date(2026, 1, 31))
    assert "URL parameter 'dates'" in _notices(at) and "2025-01-20 to 2026-01-31" in _notices(at)


@pytest.mark.parametrize("key,value,page,used", [
    ("stacked", "maybe", None, "using false"),
    ("group", "speaker", "views/compare.py", "using 'source'"),
    ("compare", "ratio", "views/compare.py", "using 'share'"),
    ("week", "2026-W99", "views/weekly.py", "using '2026-W14'"),
    ("vs", "1999-W01", "views/weekly.py", "using '—'"),
])
def test_unknown_choices_fall_back_with_a_notice_naming_what_is_used(seed_app, key, value, page, used):
    seed_app.query_params[key] = value
    if page:  # a link straight to the page
        seed_app.switch_page(page)
    at = seed_app.run()
    assert not at.exception, at.exception
    notices = _notices(at)
    assert f"URL parameter '{key}'" in notices and repr(value) in notices and used in notices, notices


def test_an_unknown_page_path_gets_a_notice_naming_the_pages():
    """QA: /status (the page is /store) showed Trends with no word in the page (Streamlit's own
    "Page not found" dialog names no page); the page now says which path it did not know."""
    from dashboard.state import page_notice

    paths = ["overview", "statements", "store", "weekly"]
    notice = page_notice("http://127.0.0.1:8501/status", paths, "Trends")
    assert notice and "no page '/status'" in notice and "showing Trends" in notice and "/store" in notice
    for url in ("http://127.0.0.1:8501/", "http://127.0.0.1:8501", "http://h/store", "http://h/weekly/", None):
        assert page_notice(url, paths, "Trends") is None, url
    # Behind a base URL path, the page is what follows it.
    assert page_notice("http://h/topics/store", paths, "Trends", "topics") is None
    assert page_notice("http://h/topics", paths, "Trends", "/topics/") is None
    assert "'/stats'" in page_notice("http://h/topics/stats", paths, "Trends", "topics")
    # /trends is Trends again (a hidden page): no notice, and not listed among the pages.
    assert page_notice("http://h/trends", paths, "Trends", hidden=("trends",)) is None
    assert "/trends" not in page_notice("http://h/status", paths, "Trends", hidden=("trends",))


def test_compared_week_is_kept_in_the_url(seed_app):
    seed_app.query_params["vs"] = "2026-W02"
    at = seed_app.switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="vs").value == "2026-W02"
    assert [s.value for s in at.subheader][:2] == ["2026-W14", "2026-W02"]


def test_a_5000_word_search_is_capped_with_a_notice(seed_app):
    from pipeline import queries

    words = " ".join(f"palabra{i}" for i in range(5000))
    capped = queries.fts_query('"' + words + '"')
    assert len(capped) <= queries.MAX_SEARCH_CHARS + 2 and capped.count('"') == 2
    assert len(queries.fts_query(words).split()) == queries.MAX_SEARCH_TERMS
    seed_app.query_params["q"] = '"' + words + '"'
    at = seed_app.run()
    assert not at.exception, at.exception
    assert "Search" in _notices(at) and "200 characters" in _notices(at)
    assert len(at.text_input(key="q").value) <= queries.MAX_SEARCH_CHARS


def test_url_parameter_names_and_values_in_notices_are_text(seed_app):
    seed_app.query_params["![x](http://127.0.0.1:9/p.png)"] = "1"
    seed_app.query_params["topics"] = ["[a](javascript:alert(1))"]
    at = seed_app.run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning if _unsafe_markdown(w.value)] == []
    assert "![x](http://127.0.0.1:9/p.png)" in _notices(at)


def test_the_trends_page_opens_at_its_own_url(dashboard_server, page):
    from dashboard.browser import POINT, open_page

    open_page(page, dashboard_server + "/trends?measure=share", POINT)
    assert page.get_by_text("Topics over time").is_visible()
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_role("radio", name="share").get_attribute("aria-checked") == "true"  # the URL's measure
    assert page.url.endswith("/trends?measure=share")


def test_a_link_with_a_bad_parameter_opens_its_page_with_the_notice(dashboard_server, page):
    from dashboard.browser import open_page

    open_page(page, dashboard_server + "/compare?group=speaker", "[data-testid='stAlert']")
    page.wait_for_selector("text=using 'source'")
    assert page.locator("h1").first.inner_text() == "Compare"  # the correction did not move to Trends
    assert page.url.endswith("/compare")


def test_a_model_retrained_at_the_same_path_is_the_one_the_dashboard_serves(tmp_path):
    """The audit sample's scores and the drill-down's evidence come from the model now in the file,
    not from the one the server loaded first (the cache was keyed by the path alone)."""
    import shutil

    from dashboard import data
    from pipeline.tagger import DEFAULT_MODEL, _load_skops, save_model

    path = tmp_path / "tagger.skops"
    shutil.copy(DEFAULT_MODEL, path)
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), path.with_suffix(".json"))
    first = data.model(str(path))
    est = _load_skops(path, path.read_bytes())
    est.thresholds_ = est.thresholds_ + 0.01  # another model: another version, other tags near the threshold
    version = save_model(est, path, json.loads(path.with_suffix(".json").read_text()))
    second = data.model(str(path))
    assert version != first.version
    assert second.version == version
    assert list(second.estimator.thresholds_) == list(est.thresholds_)
