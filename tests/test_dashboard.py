"""Dashboard pages through Streamlit's AppTest, and the figure builders through fig.to_dict()."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.figures import cooccurrence_figure, grouped_bar_figure, trend_figure, weekly_figure
from dashboard.render import highlight
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")


@pytest.fixture()
def app(seed_store, monkeypatch):
    monkeypatch.setenv("TOPICS_STORE", str(seed_store))
    from dashboard import data

    data.facets.clear()
    return AppTest.from_file(APP, default_timeout=60)


def _texts(at) -> str:
    return " ".join(str(x.value) for x in list(at.markdown) + list(at.caption) + list(at.warning) + list(at.info))


def test_empty_store_page_says_which_command_fills_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPICS_STORE", str(tmp_path / "none"))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "python -m pipeline run --input seeds" in at.info[0].value


def test_trends_page_charts_every_topic(app):
    at = app.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Topics over time"
    assert [o for o in at.multiselect(key="topics").value] == ["security", "trade", "migration", "sovereignty"]
    chart = at.get("plotly_chart")[0]
    import json

    spec = json.loads(chart.proto.spec)
    assert sorted(t["name"] for t in spec["data"] if t["name"] != "events") == ["migration", "security",
                                                                               "sovereignty", "trade"]


def test_filters_narrow_the_chart_and_live_in_the_url(app):
    app.query_params["topics"] = ["trade"]
    app.query_params["source"] = ["White House"]
    at = app.run()
    assert not at.exception
    assert at.multiselect(key="topics").value == ["trade"]
    assert at.multiselect(key="source").value == ["White House"]
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in spec["data"] if t["name"] != "events"] == ["trade"]  # (events: spike stars)
    xs = spec["data"][0]["x"]
    assert max(xs) < "2025-07-01"  # the White House slice ends in June 2025


def test_unknown_and_malformed_url_parameters_fall_back_with_a_notice(app):
    app.query_params["topics"] = ["nonsense"]
    app.query_params["colour"] = "red"
    app.query_params["dates"] = ["2025-13-45"]
    at = app.run()
    assert not at.exception
    notices = " ".join(w.value for w in at.warning)
    assert "Unknown URL parameter 'colour'" in notices
    assert "'nonsense'" in notices and "not a date" in notices
    assert at.multiselect(key="topics").value == ["security", "trade", "migration", "sovereignty"]


def test_search_narrows_the_statements_page(app):
    at = app.run()
    at.switch_page("views/explore.py").run()
    at.text_input(key="q").input('"integridad territorial"').run()
    assert not at.exception
    body = _texts(at)
    assert "integridad territorial" in body
    caption = [c.value for c in at.caption if "statements" in c.value][0]
    assert int(caption.split()[0]) >= 1


def test_compare_weekly_and_store_pages_render(app):
    at = app.run()
    for page, title in (("views/compare.py", "Compare"), ("views/weekly.py", "Weekly briefs"),
                        ("views/status.py", "Store")):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert at.title[0].value == title


def test_statement_text_is_escaped_and_evidence_marked():
    html_ = highlight("<script>x</script> El tráfico de FENTANILO bajó.", ["fentanilo", "trafico"])
    assert "<script>" not in html_ and "&lt;script&gt;" in html_
    assert "<mark>FENTANILO</mark>" in html_ and "<mark>tráfico</mark>" in html_


def _trend_df():
    rows = []
    for i, total in enumerate([100, 5, 80]):
        for topic, count in (("trade", 10 + i), ("security", 20 - i)):
            rows.append({"period": dt.date(2026, 1, 5) + dt.timedelta(weeks=i), "topic": topic, "count": count,
                         "total": total, "share": count / total})
    return pd.DataFrame(rows)


def test_trend_figure_counts_shares_and_thin_periods():
    fig = trend_figure(_trend_df(), measure="count", min_total=20).to_dict()
    sec = [t for t in fig["data"] if t["name"] == "security"][0]
    assert list(sec["y"]) == [20, 19, 18]
    assert list(sec["marker"]["symbol"]) == ["circle", "circle-open", "circle"]
    assert "thin period" in sec["customdata"][1][4]
    share = trend_figure(_trend_df(), measure="share").to_dict()
    tr = [t for t in share["data"] if t["name"] == "trade"][0]
    assert list(tr["y"]) == pytest.approx([0.10, 11 / 5, 12 / 80])
    assert share["layout"]["yaxis"]["tickformat"] == ".0%"
    rolled = trend_figure(_trend_df(), measure="count", rolling=2).to_dict()
    tr = [t for t in rolled["data"] if t["name"] == "trade"][0]
    assert list(tr["y"]) == [10, 10.5, 11.5]
    stacked = trend_figure(_trend_df(), measure="share", stacked=True).to_dict()
    assert stacked["layout"]["barmode"] == "stack" and stacked["data"][0]["type"] == "bar"


def test_weeks_without_statements_are_gaps_not_zeros():
    df = _trend_df()
    df.loc[df["period"] == dt.date(2026, 1, 12), ["count", "total"]] = 0
    fig = trend_figure(df, measure="count").to_dict()
    assert list(fig["data"][0]["y"])[1] is None


def test_grouped_cooccurrence_and_weekly_figures():
    df = pd.DataFrame({"source": ["A", "A", "B"], "topic": ["trade", "security", "trade"], "count": [1, 2, 3],
                       "total": [10, 10, 30], "share": [0.1, 0.2, 0.1]})
    fig = grouped_bar_figure(df, "source").to_dict()
    assert [t["name"] for t in fig["data"]] == ["A", "B"]
    co = pd.DataFrame({"topic_a": ["trade", "trade", "security", "security"],
                       "topic_b": ["trade", "security", "trade", "security"], "count": [5, 2, 2, 9]})
    hm = cooccurrence_figure(co).to_dict()["data"][0]
    assert list(hm["x"]) == ["security", "trade"] and [list(r) for r in hm["z"]] == [[9, 2], [2, 5]]
    hist = pd.DataFrame({"week": ["2026-W02", "2026-W03"], "topic": ["trade", "trade"], "count": [1, 4],
                         "total": [10, 20]})
    wk = weekly_figure(hist, "2026-W03").to_dict()["data"][0]
    assert list(wk["y"]) == pytest.approx([0.1, 0.2]) and list(wk["marker"]["line"]["width"]) == [0, 3]


def test_every_filter_narrows_the_chart_like_the_equivalent_sql(app, seed_store):
    import json
    import sqlite3

    from pipeline import store

    app.query_params["dates"] = ["2026-01-05", "2026-01-25"]
    app.query_params["lang"] = ["es"]
    app.query_params["role"] = ["press"]
    app.query_params["granularity"] = "day"
    at = app.run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    # customdata[2] is the period's denominator: statements passing every filter that day.
    totals = {}
    for trace in spec["data"]:
        for x, cd in zip(trace["x"], trace["customdata"]):
            totals[str(x)[:10]] = cd[2]
    with sqlite3.connect(store.db_path(seed_store)) as c:
        rows = dict(c.execute("SELECT date, COUNT(*) FROM statements WHERE date BETWEEN '2026-01-05' AND "
                              "'2026-01-25' AND lang = 'es' AND role = 'press' GROUP BY date").fetchall())
    assert {d: n for d, n in totals.items() if n} == rows
    at.multiselect(key="speaker").select("Claudia Sheinbaum Pardo").run()
    assert not at.exception
    assert "No statement matches these filters." in [i.value for i in at.info]
