"""Defects found by a demanding user's pass over every page (seed and full stores, in Chromium),
each checked here on a seed store through AppTest or on the functions themselves."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, run_cli

APP = str(ROOT / "dashboard" / "app.py")


def _app(store: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOPICS_STORE", str(store))
    return AppTest.from_file(APP, default_timeout=120)


def _records(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_an_open_session_follows_the_stores_new_dates_unless_the_user_chose_dates(seed_store_copy, tmp_path,
                                                                                  monkeypatch):
    """QA: with the dashboard open, a run added statements after (or before) the store's dates; the
    Store page then gave the new last date, but Trends kept charting the old range in that session
    (the date filter held the store's old first and last day, which the user never chose), until a
    new session. A range the user chose stays as chosen."""
    st.cache_data.clear()
    at = _app(seed_store_copy, monkeypatch).run()
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2025, 1, 20), dt.date(2026, 3, 31))
    more = _records(tmp_path / "more.jsonl", [
        {"date": "2026-04-14", "source": "Mexican presidency", "speaker": "Reporter",
         "text": "Los aranceles al acero y el comercio con Estados Unidos se revisan esta semana."},
    ])
    r = run_cli("run", "--input", str(more), "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr

    at.run()  # the same session, rerun (a click, the Rerun menu)
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2025, 1, 20), dt.date(2026, 4, 14))
    assert at.session_state["filters"].date_to == dt.date(2026, 4, 14)

    # A range chosen by the user is kept through the next run.
    at.date_input(key="dates").set_value((dt.date(2025, 3, 1), dt.date(2026, 4, 14))).run()
    more2 = _records(tmp_path / "more2.jsonl", [
        {"date": "2026-04-20", "source": "Mexican presidency", "speaker": "Reporter",
         "text": "La seguridad en la frontera y el fentanilo."},
    ])
    r = run_cli("run", "--input", str(more2), "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    at.run()
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2025, 3, 1), dt.date(2026, 4, 14))


def _checked(page) -> list[str]:
    return [r.inner_text() for r in page.get_by_role("radio").all() if r.get_attribute("aria-checked") == "true"]


def test_compare_by_language_or_role_is_drawn_kept_in_the_url_and_reopened(page, dashboard_server):
    """QA: on Compare, clicking "language" (or "speaker role") broke the page with "This app has
    encountered an error": the control wrote its label (group=language) into the URL, which the URL
    check took for an unknown value and tried to remove from a parameter bound to the widget. A link
    with group=lang or group=role opened the comparison by source, without a word."""
    from dashboard.browser import after_rerun, open_page

    open_page(page, dashboard_server + "/compare", ".js-plotly-plot")
    after_rerun(page, lambda: page.get_by_role("radio", name="language").click(), ".js-plotly-plot")
    page.wait_for_function("() => location.search.includes('group=language')", timeout=30000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_role("heading", name="Topics by language").is_visible()
    assert "language" in _checked(page)
    after_rerun(page, lambda: page.get_by_role("radio", name="speaker role").click(), ".js-plotly-plot")
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_role("heading", name="Topics by speaker role").is_visible()
    # The link reopens the comparison it shows.
    open_page(page, page.url, ".js-plotly-plot")
    assert "speaker role" in _checked(page)
    assert page.get_by_role("heading", name="Topics by speaker role").is_visible()


def test_a_link_with_the_old_group_names_opens_that_comparison(seed_store, monkeypatch):
    """group=lang and group=role (the columns' names) open the comparison they name, not 'source'."""
    for old, shown in (("lang", "language"), ("role", "speaker role")):
        at = _app(seed_store, monkeypatch)
        at.query_params["group"] = old
        at.switch_page("views/compare.py")
        at.run()
        assert not at.exception, at.exception
        assert at.subheader[0].value == f"Topics by {shown}"
        assert not at.warning or all("group" not in w.value for w in at.warning)


def _weekly(rows: list[tuple[str, str, int, int]]):
    import pandas as pd

    df = pd.DataFrame(rows, columns=["period", "topic", "count", "total"])
    df["period"] = pd.to_datetime(df["period"]).dt.date
    df["share"] = df["count"] / df["total"]
    return df


def test_a_spike_star_sits_on_its_topics_point_as_drawn_under_a_rolling_mean_or_stacking():
    """QA: under a 6-week rolling mean the trade spike's star sat at the week's own count (55)
    while the line there drew the mean (110), the star floating off its line; with stacked shares it
    sat at the topic's own share, inside the bar of another topic, not on top of its segment."""
    from dashboard.figures import EVENT_TRACE, draw_event_points, event_points, trend_figure

    weeks = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    df = _weekly([(w, t, c, 100) for w, cs in zip(weeks, [(10, 20), (10, 20), (10, 60), (10, 20)])
                  for t, c in zip(("migration", "trade"), cs)])
    spike = {"id": "e1", "topic": "trade", "source": "White House", "start": "2026-01-19", "end": "2026-01-19",
             "peak_week": "2026-01-19", "label": "tariffs", "terms": {}, "z": 4.0, "share": 0.6,
             "baseline_share": 0.2, "count": 60, "measure": "raw"}
    for measure, rolling, stacked in (("count", 3, False), ("share", 2, False), ("share", 1, True),
                                      ("count", 2, True)):
        fig = trend_figure(df, measure=measure, rolling=rolling, stacked=stacked)
        placed = event_points(df, [spike], measure=measure, rolling=rolling, stacked=stacked)
        data = draw_event_points(fig, placed).to_dict()["data"]
        star = next(t for t in data if t["name"] == EVENT_TRACE)
        drawn = {name: dict(zip([str(x)[:10] for x in t["x"]], t["y"])) for t in data
                 if (name := t["name"]) in ("migration", "trade")}
        week = "2026-01-19"
        expected = drawn["trade"][week] + (drawn["migration"][week] if stacked else 0)
        assert list(star["y"]) == [pytest.approx(expected)], (measure, rolling, stacked)


def test_the_drift_table_says_how_many_statements_each_number_is_over(seed_store, monkeypatch):
    """QA: the Reliability page's drift table gave each source-quarter's PSI and share of unseen words
    with no word of how many statements they were measured on (a quarter of 400 statements read like
    one of 50,000; the unseen words are read on at most 300 of them). The table gives both."""
    import sqlite3

    at = _app(seed_store, monkeypatch)
    at.switch_page("views/reliability.py")
    at.run()
    assert not at.exception, at.exception
    drift = at.dataframe[3].value
    assert "statements" in drift.columns and "unseen words" in drift.columns
    conn = sqlite3.connect(seed_store / "tracker.db")
    counted = {}
    # The PSIs are over the statements outside the labelled set (whose truth is known, not scored).
    for date, source in conn.execute("SELECT date, source FROM statements WHERE gold_mask IS NULL"):
        y, m = int(date[:4]), int(date[5:7])
        key = (f"{y}-Q{(m - 1) // 3 + 1}", source)
        counted[key] = counted.get(key, 0) + 1
    for _, row in drift.iterrows():
        n = counted[(row["quarter"], row["source"])]
        assert int(row["statements"]) == n, row
        assert row["unseen words"].endswith(f"({min(300, n)})"), row


def test_an_open_weekly_page_moves_to_a_new_week_unless_the_user_chose_one(seed_store_copy, tmp_path, monkeypatch):
    """QA: with the Weekly page open, a run added statements of a newer week; the week list gained it
    but the page went on showing the previous newest week in that session. A week the user chose stays."""
    st.cache_data.clear()
    at = _app(seed_store_copy, monkeypatch).switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="week").value == "2026-W14"
    r = run_cli("run", "--input", str(_records(tmp_path / "w16.jsonl", [
        {"date": "2026-04-14", "source": "Mexican presidency", "speaker": "Reporter",
         "text": "Los aranceles al acero y el comercio con Estados Unidos se revisan esta semana."}])),
        "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="week").value == "2026-W16"
    assert any("2026-W16" in str(h.value) for h in [*at.header, *at.subheader, *at.markdown, *at.caption])

    at.selectbox(key="week").set_value("2026-W10").run()
    r = run_cli("run", "--input", str(_records(tmp_path / "w17.jsonl", [
        {"date": "2026-04-20", "source": "Mexican presidency", "speaker": "Reporter",
         "text": "La seguridad en la frontera y el fentanilo."}])), "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="week").value == "2026-W10"
    assert at.selectbox(key="week").options[0] == "2026-W17"
