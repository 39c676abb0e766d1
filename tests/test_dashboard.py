"""Dashboard pages through Streamlit's AppTest, and the figure builders through fig.to_dict()."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.figures import cooccurrence_figure, grouped_bar_figure, trend_figure, weekly_figure
from dashboard.render import highlight
from pipeline.cooccurrence import corrected_pairs
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")


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
    assert "colour" not in at.query_params  # dropped from the URL, as the bad values are
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
    assert stacked["layout"]["yaxis"]["title"]["text"] == "topic shares, stacked"  # overlapping topics add up


def test_tagged_counts_say_how_sure_they_are_in_the_hover_and_the_caption(app):
    # A count or share as tagged carries, on hover, the period's corrected share and its 95 %
    # interval (where the audit gives one): how far the tagged number can be trusted.
    df = _trend_df().assign(share_corrected=[0.2, 0.1, float("nan"), 0.3, 0.2, 0.1],
                            ci_low=[0.1, 0.05, float("nan"), 0.2, 0.1, 0.05],
                            ci_high=[0.3, 0.2, float("nan"), 0.4, 0.3, 0.2])
    fig = trend_figure(df, measure="count").to_dict()
    sec = [t for t in fig["data"] if t["name"] == "security"][0]
    assert "%{customdata[6]}" in sec["hovertemplate"]
    row = df[df["topic"] == "security"].sort_values("period").iloc[0]
    assert sec["customdata"][0][6] == (f"<br>corrected share {row.share_corrected:.1%} "
                                       f"(95 %: {row.ci_low:.1%}–{row.ci_high:.1%})")
    assert any(c[6] == "" for t in fig["data"] for c in t["customdata"])  # no interval: nothing said
    at = app.run()
    assert not at.exception, at.exception
    assert any("as tagged, with the tagger's errors" in c.value and "also in the hover" in c.value
               for c in at.caption)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any("corrected share" in str(c[6]) for t in chart["data"] if t.get("customdata") for c in t["customdata"])


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
    # Without an audit sample every cell is a share as tagged, marked (tests/test_cooccurrence.py: corrected).
    masks = pd.DataFrame({"source": ["S"] * 3, "tag_mask": [1, 2, 3], "gold_mask": [-1] * 3, "n": [3, 7, 2]})
    co = corrected_pairs(masks, {"trade": 0, "security": 1}, ["security", "trade"], None)
    diag, hm, thin, mark = cooccurrence_figure(co).to_dict()["data"]
    assert mark["name"] == thin["name"] and mark["marker"]["symbol"] == "asterisk-open"  # the mark's legend entry
    assert list(hm["x"]) == ["security", "trade"] and all(c is None for t in (diag, hm) for r in t["z"] for c in r)
    text = dict(zip(zip(thin["y"], thin["x"]), thin["text"]))
    assert text == {("security", "security"): "75.0 %*", ("security", "trade"): "16.7 %*",
                    ("trade", "security"): "16.7 %*", ("trade", "trade"): "41.7 %*"}
    hist = pd.DataFrame({"week": ["2026-W02", "2026-W03"], "topic": ["trade", "trade"], "count": [1, 4],
                         "total": [10, 20]})
    wk = weekly_figure(hist, "2026-W03").to_dict()
    bars = wk["data"][0]
    assert list(bars["y"]) == pytest.approx([0.1, 0.2])
    assert "error_y" not in bars and wk["layout"]["yaxis"]["title"]["text"] == "share of statements as tagged"
    # A brief with corrected shares: bars at the corrected share, error bars to the interval's ends;
    # a week without statements is a gap with no error bar.
    hist = pd.DataFrame({"week": ["2026-W01", "2026-W02", "2026-W03"], "topic": ["trade"] * 3, "count": [0, 1, 4],
                         "total": [0, 10, 20], "share_corrected": [None, 0.08, 0.25],
                         "ci_low": [None, 0.02, 0.2], "ci_high": [None, 0.15, 0.31]})
    wk = weekly_figure(hist, "2026-W03").to_dict()
    bars = wk["data"][0]
    assert list(bars["y"])[0] is None and list(bars["y"])[1:] == pytest.approx([0.08, 0.25])
    assert list(bars["error_y"]["array"])[1:] == pytest.approx([0.07, 0.06])
    assert list(bars["error_y"]["arrayminus"])[1:] == pytest.approx([0.06, 0.05])
    assert list(bars["error_y"]["array"])[0] is None
    assert wk["layout"]["yaxis"]["title"]["text"] == "corrected share (95 % interval)"
    assert "as tagged" in bars["hovertemplate"] and list(bars["customdata"][2])[2] == pytest.approx(0.2)


def test_the_weekly_chart_marks_its_week_without_hiding_bars_or_error_bars():
    """QA: a 3 px black outline on the selected week's narrow bars made them look black and hid their
    error bars. The week now stands on a shaded band with its label in bold; its bars keep their colour."""
    hist = pd.DataFrame({"week": ["2026-W01", "2026-W02", "2026-W03"] * 2, "topic": ["trade"] * 3 + ["security"] * 3,
                         "count": [2, 1, 4, 5, 6, 7], "total": [10, 10, 20, 10, 10, 20],
                         "share_corrected": [0.2, 0.08, 0.25, 0.5, 0.6, 0.35],
                         "ci_low": [0.1, 0.02, 0.2, 0.4, 0.5, 0.3], "ci_high": [0.3, 0.15, 0.31, 0.6, 0.7, 0.4]})
    wk = weekly_figure(hist, "2026-W02").to_dict()
    for bars in wk["data"]:
        assert (bars.get("marker", {}).get("line") or {}).get("width") in (None, 0)  # no outline
        assert bars["error_y"]["array"][1] > 0  # the week's error bars are there
    band = [s for s in wk["layout"]["shapes"] if s["type"] == "rect"]
    assert len(band) == 1 and (band[0]["x0"], band[0]["x1"]) == (0.5, 1.5)  # the second week, on the category axis
    assert band[0]["layer"] == "below"  # behind the bars
    ticks = dict(zip(wk["layout"]["xaxis"]["tickvals"], wk["layout"]["xaxis"]["ticktext"]))
    assert ticks["2026-W02"] == "<b>2026-W02</b>" and ticks["2026-W01"] == "2026-W01"


def test_two_weekly_charts_on_one_scale(app):
    """QA: compared side by side, 2025-W06's chart ran to 20 % and 2024-W40's to 16 %, so equal
    heights were different shares. Both charts now share the higher of their two scales."""
    import json

    app.query_params["week"] = "2026-W13"
    app.query_params["vs"] = "2026-W03"
    at = app.run()
    at.switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 2
    ranges = [c["layout"]["yaxis"]["range"] for c in charts]
    assert ranges[0] == ranges[1]
    tops = [max(y + (e or 0) for t in c["data"] for y, e in zip(t["y"], t["error_y"]["array"]) if y is not None)
            for c in charts]
    assert ranges[0][0] == 0 and ranges[0][1] >= max(tops) and tops[0] != pytest.approx(tops[1])
    # The tables are one under the other across the page, every column in reach: each week's
    # numbers, then its changes against the previous week and against the 8-week mean.
    assert len(at.dataframe) == 6
    assert [len(d.value.columns) for d in at.dataframe] == [4] * 6


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


def test_partial_week_note_names_the_days_a_week_holds():
    from pipeline.snapshot import partial_week_note

    # 2026-W14 is Monday 30 March to Sunday 5 April.
    assert partial_week_note("2026-W14", dt.date(2019, 1, 1), dt.date(2026, 4, 5)) is None
    assert partial_week_note("2026-W14", dt.date(2019, 1, 1), dt.date(2026, 5, 1)) is None
    end = partial_week_note("2026-W14", dt.date(2019, 1, 1), dt.date(2026, 3, 31))
    assert "end on 2026-03-31" in end and "2 of its 7 days" in end
    start = partial_week_note("2026-W14", dt.date(2026, 4, 3), dt.date(2026, 6, 1))
    assert "start on 2026-04-03" in start and "3 of its 7 days" in start
    both = partial_week_note("2026-W14", dt.date(2026, 3, 31), dt.date(2026, 4, 1))
    assert "start on 2026-03-31 and end on 2026-04-01" in both and "2 of its 7 days" in both


def test_weekly_page_warns_of_a_partial_week_and_gives_share_changes_in_points(app, seed_store):
    # The seed store ends on Tuesday 2026-03-31: its newest week holds two days.
    at = app.run()
    at.switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="week").value == "2026-W14"
    warnings = " ".join(w.value for w in at.warning)
    assert "Partial week" in warnings and "end on 2026-03-31" in warnings and "2 of its 7 days" in warnings
    assert list(at.dataframe[0].value.columns) == ["topic", "statements tagged", "share as tagged",
                                                    "corrected share (95 % interval)"]
    # The changes, one table per week compared with (every column in reach): corrected first.
    for table, name in ((1, "vs previous week"), (2, "vs 8-week mean")):
        assert list(at.dataframe[table].value.columns) == [
            "topic", f"{name} (pts, corrected, 95 % interval)", f"{name} (pts, as tagged)", f"{name} (statements)"]
    # A whole week has no such warning, and its change of share is the difference of the two shares.
    at.selectbox(key="week").set_value("2026-W13").run()
    assert not any("Partial week" in w.value for w in at.warning)
    shown = (at.dataframe[0].value.merge(at.dataframe[1].value, on="topic").merge(at.dataframe[2].value, on="topic")
             .set_index("topic"))
    from pipeline import snapshot, store
    from pipeline.display import signed

    conn = store.open_readonly(str(seed_store))
    try:
        this, before = snapshot.compute(conn, "2026-W13"), snapshot.compute(conn, "2026-W12")
    finally:
        conn.close()
    for t, v in this["topics"].items():
        points = (v["count"] / this["statements"] - before["topics"][t]["count"] / before["statements"]) * 100
        assert shown.loc[t, "vs previous week (pts, as tagged)"] == signed(points), t
        assert shown.loc[t, "vs previous week (statements)"] == f"{v['count'] - before['topics'][t]['count']:+d}"
        # The README's change against the 8-week mean in statements, as report.html gives it.
        assert shown.loc[t, "vs 8-week mean (statements)"] == signed(v["previous_8_weeks_mean"]["change_count"])
    # Live numbers (no brief frozen) say how sure they are like a brief: corrected shares with
    # intervals in the table, and the chart's bars with error bars to those intervals.
    assert any("live numbers" in c.value for c in at.caption)
    assert all(cell != "—" and "–" in cell for cell in shown["corrected share (95 % interval)"])
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    for trace in spec["data"]:
        t = trace["name"]
        this_week = list(trace["x"]).index("2026-W13")
        low, high = (float(x.rstrip("%")) / 100 for x in shown.loc[t, "corrected share (95 % interval)"]
                     .split("(")[1].rstrip(")").split("–"))
        y = trace["y"][this_week]
        assert y - trace["error_y"]["arrayminus"][this_week] == pytest.approx(low, abs=0.0006)
        assert y + trace["error_y"]["array"][this_week] == pytest.approx(high, abs=0.0006)
    assert spec["layout"]["yaxis"]["title"]["text"] == "corrected share (95 % interval)"
    assert any("lines: their 95 % intervals" in c.value for c in at.caption)
    # Live numbers have corrected changes too: each within its interval, and the change against the
    # previous week is the difference of the two weeks' corrected shares the chart draws.
    import re

    for trace in spec["data"]:
        t = trace["name"]
        cell = shown.loc[t, "vs previous week (pts, corrected, 95 % interval)"]
        m = re.fullmatch(r"([+-][0-9.]+) \(([+-][0-9.]+) to ([+-][0-9.]+)\)", cell)
        assert m, cell
        change, low, high = map(float, m.groups())
        assert low <= change <= high
        weeks = list(trace["x"])
        drawn = (trace["y"][weeks.index("2026-W13")] - trace["y"][weeks.index("2026-W12")]) * 100
        assert change == pytest.approx(drawn, abs=0.06), t
        assert re.fullmatch(r"[+-][0-9.]+ \([+-][0-9.]+ to [+-][0-9.]+\)",
                            shown.loc[t, "vs 8-week mean (pts, corrected, 95 % interval)"])
    assert any("from the same bootstrap replicates" in c.value for c in at.caption)


def _weekly_page(store_dir: str, week: str, monkeypatch) -> AppTest:
    """The Weekly page of ``store_dir`` at ``week``, rendered without an exception."""
    monkeypatch.setenv("TOPICS_STORE", store_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["week"] = week
    at.run()
    at.switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    return at


def test_weekly_page_says_when_the_store_changed_after_the_brief_was_frozen(seed_store_copy, tmp_path, monkeypatch):
    from tests.conftest import run_cli

    store_dir = str(seed_store_copy)
    assert run_cli("snapshot", "--week", "2026-W13", "--store", store_dir).returncode == 0
    # A late statement dated inside the frozen week (Wednesday 25 March 2026).
    late = tmp_path / "late.jsonl"
    late.write_text('{"date": "2026-03-25", "source": "Mexican presidency", "text": "Hablamos de aranceles."}\n')
    r = run_cli("run", "--input", str(late), "--store", store_dir, "--no-snapshots")
    assert r.returncode == 0, r.stderr
    at = _weekly_page(store_dir, "2026-W13", monkeypatch)
    frozen = next(c.value for c in at.caption if "frozen snapshot made" in c.value)
    brief_total = int(frozen.split(" statements")[0].split("·")[-1].replace(",", ""))
    infos = " ".join(i.value for i in at.info)
    assert f"now holds {brief_total + 1:,} statements, the brief {brief_total:,}" in infos
    assert "snapshot --week 2026-W13 --force" in infos
    assert "UTC" in frozen and "T" not in frozen.split("made ")[1][:11]
    # The brief's corrected shares, with their intervals, are in the table.
    import json

    brief = json.loads((seed_store_copy / "snapshots" / "2026-W13" / "summary.json").read_text())
    table = at.dataframe[0].value.set_index("topic")
    for t, v in brief["topics"].items():
        assert table.loc[t, "corrected share (95 % interval)"] == \
            f"{v['share_corrected']:.1%} ({v['ci_low']:.1%}–{v['ci_high']:.1%})"


def test_weekly_page_says_when_the_weeks_statements_were_retagged_after_the_brief_was_frozen(
        seed_store_copy, monkeypatch):
    """A re-tag by another model leaves the week's total as it was and moves its topic counts: the
    page says so (per topic, naming both models) instead of showing the brief as the store's."""
    import sqlite3

    from pipeline import store
    from tests.conftest import run_cli

    store_dir = str(seed_store_copy)
    assert run_cli("snapshot", "--week", "2026-W13", "--store", store_dir).returncode == 0
    bits = store.topic_bits(store.open_store(store_dir))
    with sqlite3.connect(store.db_path(store_dir)) as c:
        # What a re-tag does to the week: every statement's version, and some statements' tags.
        served = c.execute("SELECT DISTINCT model_version FROM statements WHERE date BETWEEN '2026-03-23' AND "
                           "'2026-03-29'").fetchall()
        c.execute("UPDATE statements SET model_version = 'retagged0001' "
                  "WHERE date BETWEEN '2026-03-23' AND '2026-03-29'")
        flipped = c.execute(f"UPDATE statements SET topic_mask = topic_mask & ~{1 << bits['security']} WHERE sid IN "
                            f"(SELECT sid FROM statements WHERE date BETWEEN '2026-03-23' AND '2026-03-29' AND "
                            f"topic_mask & {1 << bits['security']} LIMIT 5)").rowcount
    assert flipped == 5
    store.rebuild_daily(store.open_store(store_dir))
    at = _weekly_page(store_dir, "2026-W13", monkeypatch)
    infos = " ".join(i.value for i in at.info)
    security = at.dataframe[0].value.set_index("topic").loc["security", "statements tagged"]
    assert "holds" not in infos  # the total did not change
    assert f"security {security - 5:,} (brief {security:,})" in infos
    assert f"now tagged by model retagged0001, the brief's by {served[0][0]}" in infos


def test_weekly_page_lists_the_briefs_spikes_with_their_intervals(seed_store_copy, monkeypatch):
    """QA: summary.json and report.html list a week's spikes with their 95 % interval; the Weekly page
    did not show them. It lists them, each headed as on the Events page, and explains one when opened."""
    import json

    from pipeline import settings, snapshot
    from pipeline.display import size_text

    store_dir = str(seed_store_copy)
    written = snapshot.write_all(store_dir, settings.snapshots_dir(store_dir))
    briefs = [json.loads((w / "summary.json").read_text(encoding="utf-8")) for w in written]
    spiky = next(b for b in briefs if b["events"])
    calm = next(b for b in briefs if not b["events"] and b["statements"])
    at = _weekly_page(store_dir, spiky["week"], monkeypatch)
    labels = [e.label.replace("\\", "") for e in at.expander]  # as shown: Markdown escapes are not
    for ev in spiky["events"]:
        heading = next(x for x in labels if ev["topic"] in x and ev["source"] in x and ev["start"] in x)
        assert ev["share_ci"] and size_text(ev) in heading and "(95 %: " in heading
    assert any(f"Spikes this week** ({len(spiky['events'])})" in m.value for m in at.markdown)
    body = " ".join(str(m.value) for m in at.markdown)
    assert "Terms that set it apart" in body  # the explanation, as on the Events page
    at = _weekly_page(store_dir, calm["week"], monkeypatch)
    assert any(c.value == "No spike this week." for c in at.caption)


def test_one_document_and_one_quote_are_singular_on_the_weekly_page_and_in_report_html(seed_store, monkeypatch):
    """QA: "1 quotes", "0 quotes", "1 documents". 2025-W27 of the seed store holds one document; its
    topics have one quote or none."""
    from pipeline import report, snapshot, store

    at = _weekly_page(str(seed_store), "2025-W27", monkeypatch)
    head = next(c.value for c in at.caption if "2025-06-30" in c.value)
    assert " · 1 document · 189 statements · " in head
    quotes = [e.label for e in at.expander]
    assert "security: 1 quote" in quotes and "trade: 0 quotes" in quotes and "migration: 1 quote" in quotes
    conn = store.open_readonly(str(seed_store))
    try:
        summary = snapshot.compute(conn, "2025-W27")
    finally:
        conn.close()
    summary["made_at"] = "2026-12-07T00:00:00+00:00"
    page = report.render_html(summary)
    assert "1 document · 189 statements" in page and "1 documents" not in page


def test_sidebar_says_where_its_filters_do_not_apply(app):
    at = app.run()
    notes = lambda: " ".join(c.value for c in at.sidebar.caption)  # noqa: E731
    assert "do not apply" not in notes()  # Trends follows every filter
    for page in ("views/weekly.py", "views/reliability.py", "views/status.py", "views/review.py",
                 "views/versions.py", "views/events.py", "views/leadlag.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert "do not apply" in notes(), page
    at.switch_page("views/explore.py").run()
    assert "do not apply" not in notes()


def test_no_topic_selected_means_every_topic_and_the_pages_say_so(app):
    at = app.run()
    at.switch_page("views/explore.py").run()
    tagged = int(next(c.value for c in at.caption if "statements" in c.value and "·" in c.value).split()[0])
    at.sidebar.multiselect(key="topics").set_value([]).run()
    assert not at.exception, at.exception
    assert any("No topic selected" in i.value for i in at.sidebar.info)
    assert any("tagged or not" in c.value for c in at.caption)
    every = int(next(c.value for c in at.caption if "statements" in c.value and "·" in c.value).split()[0])
    assert every > tagged


def test_statements_download_has_a_score_column_per_topic_and_no_server_paths(seed_store):
    import csv
    import io

    from pipeline import queries, store
    from pipeline.csvsafe import frame_to_csv

    conn = store.open_readonly(str(seed_store))
    try:
        df, _ = queries.statements(conn, queries.Filters(topics=("trade",)), limit=50)
        names = list(queries.topic_bits(conn))
    finally:
        conn.close()
    rows = list(csv.DictReader(io.StringIO(frame_to_csv(queries.statements_table(df, names)).decode("utf-8"))))
    assert len(rows) == 50 and "path" not in rows[0] and "scores" not in rows[0]
    assert [c for c in rows[0] if c.startswith("score_")] == [f"score_{t}" for t in names]
    for row, scores in zip(rows, df["scores"]):
        assert "trade" in row["topics"].split(";")
        assert {t: float(row[f"score_{t}"]) for t in names} == scores


def test_a_search_word_with_a_minus_leaves_statements_out_and_the_reading_is_shown(app, seed_store):
    from pipeline import queries, store

    conn = store.open_readonly(str(seed_store))
    try:
        def count(q: str) -> int:
            return queries.statements(conn, queries.Filters(search=q), limit=1)[1]

        every, tariffs, both = count(""), count("aranceles"), count("aranceles acero")
        assert tariffs > both > 0
        assert count("aranceles -acero") == tariffs - both
        assert count('aranceles -"acero"') == tariffs - both
        # Nothing to look for: every statement, never an error; punctuation separates words.
        assert count("*") == count("-aranceles") == every
        assert count("aranceles:acero") == both
    finally:
        conn.close()
    app.query_params["q"] = "aranceles -acero"
    at = app.run()
    assert not at.exception, at.exception
    assert any("holding “aranceles”, without “acero”" in c.value for c in at.sidebar.caption)
    at.sidebar.text_input(key="q").set_value("*").run()
    assert not at.exception, at.exception
    assert any("Nothing to look for" in c.value for c in at.sidebar.caption)


def test_statements_are_shown_without_the_pages_formatting_but_scripts_show_as_written():
    from dashboard.render import readable

    raw = ('<span style="text-decoration: underline">Sec.</span> 2. On the 4<sup>th</sup> we '
           '[announced](https://www.whitehouse.gov/briefings/x) **MYTH:** new tariffs. <script>x</script> 2*3')
    assert readable(raw) == "Sec. 2. On the 4th we announced MYTH: new tariffs. <script>x</script> 2*3"
    shown = highlight(readable(raw), ["tariffs"])
    assert "&lt;script&gt;" in shown and "<mark>tariffs</mark>" in shown and "whitehouse.gov" not in shown
    assert readable("plain [not a link] (and words) **") == "plain [not a link] (and words) **"
    kept = "![x](http://127.0.0.1:9/pixel.png) [desk](javascript:alert(3))"
    assert readable(kept) == kept


def test_a_very_long_statement_shows_its_start_and_the_rest_on_request(seed_store_copy, tmp_path, monkeypatch):
    from dashboard.components import LONG_TEXT
    from tests.conftest import run_cli

    words = " ".join(f"aranceles{i}" for i in range(800))  # about 9,000 characters
    long = tmp_path / "long.jsonl"
    long.write_text('{"date": "2026-03-30", "source": "Desk", "text": "Zanahoria larguísima. ' + words + '"}\n')
    assert run_cli("run", "--input", str(long), "--store", str(seed_store_copy), "--no-snapshots").returncode == 0
    monkeypatch.setenv("TOPICS_STORE", str(seed_store_copy))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["q"] = "zanahoria"
    at.query_params["topics"] = [""]
    at.run()
    at.switch_page("views/explore.py").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown if "stmt" in m.value and "Zanahoria" in m.value]
    assert len(shown) == 2  # the start, and the whole in an expander
    assert len(shown[0]) < LONG_TEXT + 200 and shown[0].rstrip("</div>").endswith("…")
    assert "aranceles799" in shown[1]
    assert any("The whole statement" in e.label for e in at.expander)


def _label_boxes(fig: dict, width: float) -> tuple[list[tuple], list[tuple]]:
    """The spike labels' boxes and the stars' boxes in pixels of a plot area ``width`` wide, from the
    figure as Plotly gets it: an 11 px character is at most 4.8 px wide in Chromium, a label 18 px high."""
    from dashboard.figures import EVENT_TRACE, LABEL_PLOT_PX

    height = LABEL_PLOT_PX[1]
    (x0, x1), (y0, y1) = [pd.Timestamp(v) for v in fig["layout"]["xaxis"]["range"]], fig["layout"]["yaxis"]["range"]

    def px(x, y) -> tuple[float, float]:
        return (pd.Timestamp(x) - x0) / (x1 - x0) * width, (y - y0) / (y1 - y0) * height

    labels = []
    for a in fig["layout"].get("annotations", []):
        x, y = px(a["x"], a["y"])
        x, y = x + a.get("xshift", 0), y + a.get("yshift", 0)
        wide = len(a["text"]) * 4.8
        left = x - {"left": 0, "center": wide / 2, "right": wide}[a["xanchor"]]
        bottom = y - {"bottom": 0, "middle": 9, "top": 18}[a["yanchor"]]
        labels.append((left, bottom, left + wide, bottom + 18))
    stars = next(t for t in fig["data"] if t["name"] == EVENT_TRACE)
    points = [px(x, y) for x, y in zip(stars["x"], stars["y"])]
    return labels, [(x - 7, y - 7, x + 7, y + 7) for x, y in points]


def _meet(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_spike_labels_never_write_over_each_other_however_close_the_spikes():
    """QA: on the full corpus's Trends chart (trade and sovereignty, or the corrected measure) the labels
    of the spikes around 2024 ("steel, united, articles", "supply, chain, critical", ...) were drawn
    over each other. Labels now take free rows above or below their stars, or give way to larger spikes."""
    from dashboard.figures import add_event_markers, unlabelled

    # Seven years of weeks, two topics; seven spikes within four months at much the same heights, as
    # on the full corpus around 2024, and one far off.
    weeks = pd.date_range("2019-04-29", periods=360, freq="7D").date
    rows = [{"period": w, "topic": t, "count": 10, "total": 100, "share": 0.1} for w in weeks
            for t in ("trade", "sovereignty")]
    df = pd.DataFrame(rows)
    spikes = [(240, "trade", 0.55), (241, "sovereignty", 0.25), (244, "trade", 0.6), (247, "sovereignty", 0.3),
              (250, "trade", 0.2), (252, "trade", 0.45), (256, "sovereignty", 0.5), (320, "trade", 0.9)]
    found = []
    for i, (w, topic, share) in enumerate(spikes):
        df.loc[(df["period"] == weeks[w]) & (df["topic"] == topic), ["count", "share"]] = [int(share * 100), share]
        found.append({"id": i, "topic": topic, "peak_week": str(weeks[w]), "source": "White House",
                      "label": ["steel, united, articles", "supply, chain, critical", "steel, china, american",
                                "practices, semiconductors, market", "fentanyl, illicit, drug",
                                "sustancias, candidatos, químicas", "articles, proclamation, aluminum",
                                "tariffs, reciprocal, trade"][i],
                      "start": str(weeks[w]), "end": str(weeks[w]), "z": 3.0 + share})
    fig = add_event_markers(trend_figure(df, measure="share"), df, found, measure="share")
    out = fig.to_dict()
    for width in (600, 740, 1200):  # a wider chart moves labels apart across only
        labels, stars = _label_boxes(out, width)
        assert len(labels) >= 5
        assert not [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:] if _meet(a, b)], width
        assert not [(a, s) for a in labels for s in stars if _meet(a, s)], width  # nor over a star
    # Every spike is starred; a spike whose label gave way is named under the chart, and it is a
    # smaller one than every labelled spike near it.
    left = unlabelled(fig, [(None, None, e) for e in found])
    assert len(labels) + len(left) == len(found) and len(out["data"][-1]["x"]) == len(found)
    assert {a["text"] for a in out["layout"]["annotations"]} >= {"tariffs, reciprocal, trade",
                                                                  "steel, china, american"}


def test_the_spikes_whose_labels_gave_way_are_the_ones_without_an_annotation():
    import plotly.graph_objects as go

    from dashboard.figures import unlabelled

    fig = go.Figure()
    fig.add_annotation(x=0, y=0, text="a", name="spike 1")
    spikes = [(None, None, {"id": 1, "topic": "trade"}), (None, None, {"id": 2, "topic": "trade"})]
    assert [e["id"] for e in unlabelled(fig, spikes)] == [2]


def test_a_topic_keeps_its_colour_whichever_topics_the_chart_shows():
    """QA: with the topic filter on trade and sovereignty, Trends drew sovereignty in migration's blue
    and trade in security's red; keyed on the store's topics, each keeps the colour of the other pages."""
    from dashboard.figures import colour

    everything = ["security", "trade", "migration", "sovereignty"]
    df = pd.DataFrame({"period": [dt.date(2026, 1, 5)] * 2, "topic": ["trade", "sovereignty"], "count": [3, 1],
                       "total": [10, 10], "share": [0.3, 0.1]})
    lines = {t["name"]: t["line"]["color"] for t in trend_figure(df, palette=everything).to_dict()["data"]}
    assert lines == {"trade": colour(everything, "trade"), "sovereignty": colour(everything, "sovereignty")}
    assert lines["trade"] != lines["sovereignty"] and lines["trade"] != colour(["sovereignty", "trade"], "trade")
