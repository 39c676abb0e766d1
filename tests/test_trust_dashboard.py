"""Trustworthy trends in the dashboard (issue #17): the corrected measure with its 95 % band on
Trends and Compare, the audit's warnings, drift marked on the chart, the Reliability page, and the
reliability summary of `status`.

Figures are checked through ``fig.to_dict()``; pages through Streamlit's AppTest on real stores
built by `python -m pipeline run`; the band once more in Chromium.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.figures import DRIFT, grouped_bar_figure, trend_figure
from tests.conftest import ROOT, need_browser, run_cli

APP = str(ROOT / "dashboard" / "app.py")
TOPICS = ["migration", "security", "sovereignty", "trade"]
SHOTS = ROOT / "test-artifacts"


# -- figures ---------------------------------------------------------------------------------------
def _corrected_df() -> pd.DataFrame:
    rows = []
    for i, total in enumerate([100, 5, 80, 0]):
        for topic, count in (("trade", 10 + i), ("security", 20 - i)):
            share = count / total if total else float("nan")
            corr = share * 0.9 if total else float("nan")
            rows.append({"period": dt.date(2026, 1, 5) + dt.timedelta(weeks=i), "topic": topic,
                         "count": count if total else 0, "total": total, "share": share, "share_corrected": corr,
                         "ci_low": corr - 0.02 if total else float("nan"),
                         "ci_high": corr + 0.03 if total else float("nan")})
    return pd.DataFrame(rows)


def _traces(fig: dict, topic: str) -> list[dict]:
    return [t for t in fig["data"] if t.get("legendgroup") == topic]


def test_corrected_figure_draws_band_corrected_line_and_thin_raw_share():
    df = _corrected_df()
    fig = trend_figure(df, measure="corrected", min_total=20).to_dict()
    for topic in ("trade", "security"):
        d = df[df["topic"] == topic].sort_values("period")
        traces = _traces(fig, topic)
        bands = [t for t in traces if t.get("fill") == "toself"]
        assert len(bands) == 1, [t.get("name") for t in traces]
        # The band is an outline through every period's bounds, and no point where nothing was said.
        outline = set(zip(bands[0]["x"], bands[0]["y"]))
        for p, lo, hi, n in zip(d["period"], d["ci_low"], d["ci_high"], d["total"]):
            assert (p, lo) in outline and (p, hi) in outline if n else not [x for x, _ in outline if x == p]
        line = [t for t in traces if t["name"] == topic][0]
        assert list(line["y"])[:3] == pytest.approx(d["share_corrected"].tolist()[:3])
        assert line["line"]["width"] >= 2
        assert line["marker"]["symbol"][1] == "circle-open"  # thin periods stay marked
        raw = [t for t in traces if "raw share" in t["name"]][0]
        assert list(raw["y"])[:3] == pytest.approx(d["share"].tolist()[:3])
        assert raw["line"]["width"] <= 1
        # Hover gives the corrected share, its interval and the raw share.
        hover = line["hovertemplate"]
        assert "corrected" in hover and "95 %" in hover and "raw share" in hover
        cd = line["customdata"][0]
        assert cd[0] == topic and str(cd[5]).startswith("2026-01-05")
    assert fig["layout"]["yaxis"]["tickformat"] == ".0%"


def test_corrected_figure_rolls_the_line_drops_the_band_and_is_never_stacked():
    df = _corrected_df()
    fig = trend_figure(df, measure="corrected", rolling=2).to_dict()
    assert not [t for t in fig["data"] if t.get("fill") == "toself"]
    line = [t for t in fig["data"] if t["name"] == "trade"][0]
    c = df[df["topic"] == "trade"].sort_values("period")["share_corrected"].tolist()
    assert list(line["y"])[:3] == pytest.approx([c[0], (c[0] + c[1]) / 2, (c[1] + c[2]) / 2])
    stacked = trend_figure(df, measure="corrected", stacked=True).to_dict()
    assert not [t for t in stacked["data"] if t["type"] == "bar"]
    assert stacked["layout"].get("barmode") != "stack"


def test_corrected_figure_with_a_rolling_mean_draws_the_means_interval_when_it_has_it():
    df = _corrected_df()
    df["ci_low_mean_2"] = df["share_corrected"] - 0.01
    df["ci_high_mean_2"] = df["share_corrected"] + 0.015
    fig = trend_figure(df, measure="corrected", rolling=2).to_dict()
    for topic in ("trade", "security"):
        d = df[df["topic"] == topic].sort_values("period")
        bands = [t for t in _traces(fig, topic) if t.get("fill") == "toself"]
        assert len(bands) == 1
        outline = {(x, round(y, 9)) for x, y in zip(bands[0]["x"], bands[0]["y"]) if y is not None}
        for p, lo, hi, n in zip(d["period"], d["ci_low_mean_2"], d["ci_high_mean_2"], d["total"]):
            assert ((p, round(lo, 9)) in outline and (p, round(hi, 9)) in outline) == (n > 0)
        line = [t for t in _traces(fig, topic) if t["name"] == topic][0]
        assert "2-period mean" in line["hovertemplate"] and "95 % interval" in line["hovertemplate"]
        assert [c[6] for c in line["customdata"]][:3] == pytest.approx(d["ci_low_mean_2"].tolist()[:3])


def test_a_rolling_means_interval_is_that_of_its_periods_replicates(seed_store):
    """The interval of a k-period mean of corrected shares (``Replicates.means``, whose coverage
    tests/test_correction.py checks on synthetic weeks) over the chart's own windows: with k = 1 it
    is each period's interval; with k = 4 it holds the mean the chart draws, exists exactly where the
    period has statements, and is narrower than the periods' own intervals on average (the periods'
    sampling noise averages down, the audit's does not)."""
    from dashboard.figures import with_rolling
    from pipeline import audit, queries, store
    from pipeline.tagger import load_model

    au = audit.load(load_model())
    conn = store.open_readonly(seed_store)
    try:
        f = queries.Filters()
        df = queries.corrected_trend(conn, f, au, "week", rolling=4)
        sums = queries.score_sums(conn, f, "week", None)
        sums["period"] = sums["period"].map(queries.from_day)
        one = queries._corrected_by_topic(sums, ["period"], au, None, (sorted(df["period"].unique()), 1))
        with pytest.raises(ValueError):
            queries.corrected_trend(conn, f, au, "week", group_by="source", rolling=4)
    finally:
        conn.close()
    assert one["ci_low_mean_1"].tolist() == one["ci_low"].tolist()
    assert one["ci_high_mean_1"].tolist() == one["ci_high"].tolist()
    drawn = with_rolling(df, "corrected", 4)
    has = drawn["total"] > 0
    assert (drawn["ci_low_mean_4"].notna() == has).all() and (drawn["total"] == 0).any()
    d = drawn[has]
    assert ((d["ci_low_mean_4"] <= d["share_corrected_mean_4"] + 1e-12)
            & (d["share_corrected_mean_4"] <= d["ci_high_mean_4"] + 1e-12)).all()
    assert (d["ci_high_mean_4"] - d["ci_low_mean_4"]).mean() < (d["ci_high"] - d["ci_low"]).mean()


def test_drift_periods_are_hatched_and_say_so_on_hover():
    df = _corrected_df()
    flagged = {dt.date(2026, 1, 12): "Mexican presidency 2026-Q1: security PSI 0.14"}
    fig = trend_figure(df, measure="corrected", drift=flagged).to_dict()
    marks = [t for t in fig["data"] if t.get("legendgroup") == DRIFT]
    assert marks, [t.get("name") for t in fig["data"]]
    band = [t for t in marks if t["type"] == "bar"][0]
    assert [str(x)[:10] for x in band["x"]] == ["2026-01-12"]
    assert band["marker"]["pattern"]["shape"]
    hover = " ".join(str(t.get("hovertext") or t.get("hovertemplate") or "") for t in marks)
    assert "drift: new audit labels due" in hover and "security PSI 0.14" in hover
    # The drift marks are no topic: a click on them opens no drill-down.
    assert all(not t.get("customdata") for t in marks)
    assert not [t for t in trend_figure(df, measure="corrected").to_dict()["data"] if t.get("legendgroup") == DRIFT]


def test_compare_bars_of_corrected_shares_carry_their_intervals():
    df = pd.DataFrame({"source": ["A", "A", "B"], "topic": ["trade", "security", "trade"], "count": [1, 2, 3],
                       "total": [10, 10, 30], "share": [0.1, 0.2, 0.1], "share_corrected": [0.08, 0.25, 0.09],
                       "ci_low": [0.05, 0.2, 0.07], "ci_high": [0.12, 0.3, 0.1]})
    fig = grouped_bar_figure(df, "source", measure="corrected").to_dict()
    a = [t for t in fig["data"] if t["name"] == "A"][0]
    assert list(a["x"]) == ["security", "trade"]
    assert list(a["y"]) == pytest.approx([0.25, 0.08])
    assert list(a["error_y"]["array"]) == pytest.approx([0.05, 0.04])
    assert list(a["error_y"]["arrayminus"]) == pytest.approx([0.05, 0.03])
    assert "95 %" in a["hovertemplate"] and "raw share" in a["hovertemplate"]
    assert fig["layout"]["yaxis"]["tickformat"] == ".0%"
    # The share bars say the corrected value too, where it is known.
    share = grouped_bar_figure(df, "source", measure="share").to_dict()
    assert "corrected" in share["data"][0]["hovertemplate"]


def test_flagged_periods_are_those_with_statements_of_a_flagged_source_quarter():
    from pipeline.audit import flagged_periods

    drift = [{"quarter": "2025-Q3", "source": "Wire", "warning": True, "unseen_warning": True,
              "unseen_words": 0.31, "unseen_words_audit": 0.02,
              "topics": {"trade": {"psi": 0.4, "warning": True}, "security": {"psi": 0.01, "warning": False}}},
             {"quarter": "2025-Q3", "source": "Desk", "warning": False, "unseen_warning": False,
              "unseen_words": 0.02, "unseen_words_audit": 0.02, "topics": {}}]
    presence = pd.DataFrame({
        "period": [dt.date(2025, 6, 30), dt.date(2025, 8, 4), dt.date(2025, 8, 11), dt.date(2025, 8, 18),
                   dt.date(2025, 10, 6)],
        "source": ["Wire", "Wire", "Desk", "Wire", "Wire"],
        "total": [3, 5, 9, 0, 4]})
    out = flagged_periods(presence, drift, "week")
    # The week of 30 June runs into July (Q3); 11 August holds no Wire statement; 18 August none at all.
    assert sorted(out) == [dt.date(2025, 6, 30), dt.date(2025, 8, 4)]
    assert "Wire 2025-Q3" in out[dt.date(2025, 8, 4)] and "trade" in out[dt.date(2025, 8, 4)]
    assert "unseen words 31" in out[dt.date(2025, 8, 4)]
    assert flagged_periods(presence, [], "week") == {}


# -- pages -----------------------------------------------------------------------------------------
def _app(store: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOPICS_STORE", str(store))
    return AppTest.from_file(APP, default_timeout=120)


@pytest.fixture()
def app(seed_store, monkeypatch):
    return _app(seed_store, monkeypatch)


def _spec(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def _text(elements) -> str:
    return " ".join(str(e.value) for e in elements).replace("\\", "")


def _csv(at: AppTest, media: list, label: str) -> list[dict]:
    """The rows of the CSV behind a download button, as the browser would receive them."""
    button = [b for b in at.get("download_button") if b.proto.label == label][0]
    data = media[-1].get_file(button.proto.url.rsplit("/", 1)[-1]).content
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_corrected_measure_on_trends_draws_bands_warns_and_downloads_intervals(app, media):
    app.query_params["measure"] = "corrected"
    at = app.run()
    assert not at.exception, at.exception
    assert not [w for w in at.warning if "URL parameter" in w.value]
    assert at.segmented_control(key="measure").value == "corrected"
    spec = _spec(at)
    bands = [t for t in spec["data"] if t.get("fill") == "toself"]
    assert sorted(t["legendgroup"] for t in bands) == TOPICS
    assert sorted(t["name"] for t in spec["data"] if t.get("showlegend", True) and t["name"] in TOPICS) == TOPICS
    for t in bands:  # an outline with some height: upper bounds above lower ones
        ys = [y for y in t["y"] if y is not None]
        assert len(ys) > 4 and max(ys) > min(ys)
    # Sovereignty has 35 audit positives in all, 25 and 10 per source: its t is the pooled one.
    warnings = _text(at.warning)
    assert "sovereignty" in warnings and "White House: 10 audit positives (fewer than 30)" in warnings
    assert "Mexican presidency: 25 audit positives" in warnings
    assert "band" in _text(at.caption) and "95 %" in _text(at.caption)
    rows = _csv(at, media, "Download chart data (CSV)")
    assert {"share", "share_corrected", "ci_low", "ci_high"} <= set(rows[0])
    full = [r for r in rows if r["share_corrected"]]
    assert full and all(float(r["ci_low"]) <= float(r["share_corrected"]) <= float(r["ci_high"]) for r in full)


def test_warnings_follow_the_source_filter(app):
    app.query_params["measure"] = "corrected"
    app.query_params["source"] = ["White House"]
    at = app.run()
    assert not at.exception, at.exception
    warnings = _text(at.warning)
    assert "White House: 10 audit positives" in warnings
    assert "Mexican presidency" not in warnings  # not charted, so not warned about


def test_warnings_follow_the_sources_a_speaker_filter_leaves(app):
    app.query_params["measure"] = "corrected"
    app.query_params["speaker"] = ["Donald J. Trump"]  # White House only; no source filter
    at = app.run()
    assert not at.exception, at.exception
    warnings = _text(at.warning)
    assert "White House: 10 audit positives" in warnings
    assert "Mexican presidency" not in warnings


def test_corrected_with_a_rolling_mean_or_stacked_says_what_it_draws(app):
    app.query_params["measure"] = "corrected"
    app.query_params["rolling"] = "3"
    app.query_params["stacked"] = "true"
    at = app.run()
    assert not at.exception, at.exception
    spec = _spec(at)
    # The band is the 3-period mean's interval now; nothing is stacked.
    assert [t for t in spec["data"] if t.get("fill") == "toself"]
    assert not [t for t in spec["data"] if t["type"] == "bar" and t.get("legendgroup") in TOPICS]
    notes = _text(at.caption)
    assert "interval of the mean of 3 periods" in notes and "stacked" in notes.lower()


def test_compare_page_offers_corrected_bars_with_intervals(app, media):
    app.query_params["compare"] = "corrected"
    at = app.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    assert not [w for w in at.warning if "URL parameter" in w.value]
    spec = _spec(at)
    bars = [t for t in spec["data"] if t["type"] == "bar"]
    assert sorted(t["name"] for t in bars) == ["Mexican presidency", "White House"]
    for b in bars:
        assert len(b["error_y"]["array"]) == len(b["y"]) == 4
    rows = _csv(at, media, "Download chart data (CSV)")
    assert {"source", "topic", "share", "share_corrected", "ci_low", "ci_high"} <= set(rows[0])
    assert all(float(r["ci_low"]) <= float(r["share_corrected"]) <= float(r["ci_high"]) for r in rows)


def test_reliability_page_shows_every_topic_with_intervals_and_the_drift_table(app):
    at = app.run()
    at.switch_page("views/reliability.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Reliability"
    cards = at.dataframe[0].value
    assert sorted(cards["topic"]) == TOPICS
    f1 = cards.set_index("topic")["F1 (95 % interval)"]
    assert all("–" in v for v in f1), f1  # e.g. 0.82 (0.79–0.85)
    for col in ("precision (95 % interval)", "recall (95 % interval)", "Brier (95 % interval)", "ECE (95 % interval)",
                "t̂ (95 % interval)",
                "f̂ (95 % interval)", "t̂ − f̂ (95 % interval)", "audit positives"):
        assert col in cards.columns, cards.columns
    # t̂, f̂ and t̂ − f̂ with the intervals of the card (data.reliability), e.g. 0.712 (0.678–0.746).
    from dashboard import data

    card = data.reliability(data.audit_key())
    for t, row in cards.set_index("topic").iterrows():
        for col, k in (("t̂", "t"), ("f̂", "f"), ("t̂ − f̂", "separation")):
            m = card[t]["rate_intervals"][k]
            assert row[f"{col} (95 % interval)"] == f"{m['value']:.3f} ({m['low']:.3f}–{m['high']:.3f})", (t, col)
            assert m["low"] < m["value"] < m["high"], (t, k, m)
        for col, k in (("Brier", "brier"), ("ECE", "ece")):
            m = card[t]["calibration_intervals"][k]
            assert row[f"{col} (95 % interval)"] == f"{m['value']:.3f} ({m['low']:.3f}–{m['high']:.3f})", (t, col)
            assert m["value"] == card[t][k] and m["low"] <= m["high"], (t, k, m)
    per_source = at.dataframe[1].value
    sov = per_source[per_source["topic"] == "sovereignty"]
    assert set(sov["source"]) >= {"Mexican presidency", "White House"}
    assert sov.set_index("source").loc["White House", "t̂ from"] == "all sources (pooled)"
    for _, row in per_source.iterrows():
        rates = card[row["topic"]]["rates"][row["source"]]["intervals"]
        for col, k in (("t̂", "t"), ("f̂", "f")):
            m = rates[k]
            assert row[f"{col} (95 % interval)"] == f"{m['value']:.3f} ({m['low']:.3f}–{m['high']:.3f})", (row, col)
    agreement = at.dataframe[2].value
    # The coders' agreement of frame.json, every round and language, with the statements it is over.
    recorded = json.loads((ROOT / "pipeline" / "audit" / "frame.json").read_text(encoding="utf-8"))["agreement"]
    assert len(recorded) == 2 and len(agreement) == sum(len(r) for r in recorded)
    for i, by_lang in enumerate(recorded):
        for lang, v in by_lang.items():
            row = agreement[(agreement["round"] == i + 1)
                            & (agreement["language"] == {"es": "Spanish", "en": "English"}[lang])]
            assert len(row) == 1 and int(row.iloc[0]["statements"]) == v["n"] == 1000
            for t in TOPICS:
                # Round 1 records the coders' positives, so its kappas have an interval; round 2's do not.
                shown = row.iloc[0][t]
                assert shown.startswith(f"{v[t]:.3f}") and ("–" in shown) == ("pos" in v), (i, lang, t, shown)
    assert "Cohen's kappa" in _text(at.caption) and "before a third coder settled" in _text(at.caption)
    assert "Round 2's record holds the kappas and the statements only" in _text(at.caption)
    drift = at.dataframe[3].value
    assert {"quarter", "source", "unseen words"} <= set(drift.columns)
    assert any(c.startswith("PSI") for c in drift.columns)
    body = _text(at.markdown) + _text(at.caption)
    assert "model" in body and "last audit" in body.lower() and "new audit labels" in body
    assert "White House: 10 audit positives" in _text(at.warning)


def test_measure_and_compare_values_outside_the_options_get_the_notice(app):
    app.query_params["measure"] = "adjusted"
    at = app.run()
    assert not at.exception, at.exception
    notices = _text(at.warning)
    assert "URL parameter 'measure'" in notices and "corrected" in notices and "using 'count'" in notices


# -- drift, on a store that holds a quarter of words the tagger never saw ------------------------
def _gibberish(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    syll = ["zor", "blat", "quen", "mire", "fast", "hog", "gle", "trin", "vosk", "pel", "drub", "yak"]
    return [" ".join("".join(rng.choice(syll) for _ in range(3)) for _ in range(25)) + "." for _ in range(n)]


@pytest.fixture(scope="module")
def drift_store(tmp_path_factory, seed_store) -> Path:
    import shutil

    root = tmp_path_factory.mktemp("driftstore")
    store = root / "store"
    shutil.copytree(seed_store, store)
    records = root / "wire.jsonl"
    days = [dt.date(2025, 8, 4) + dt.timedelta(days=i) for i in range(0, 26)]
    records.write_text("".join(json.dumps({"date": days[i % len(days)].isoformat(), "text": t, "source": "Wire",
                                           "speaker": "Wire desk"}) + "\n"
                               for i, t in enumerate(_gibberish(80))), encoding="utf-8")
    r = run_cli("run", "--input", str(records), "--store", str(store), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    return store


def test_trends_marks_the_periods_of_a_drifting_source_quarter(drift_store, monkeypatch):
    app = _app(drift_store, monkeypatch)
    app.query_params["measure"] = "corrected"
    # Two sources: the drifting one and one the audit describes well. (White House 2025-Q2 sits near
    # the drift line, trade PSI 0.11-0.12 with the 25,286-label model: 1,379 statements, not noise.)
    app.query_params["source"] = ["Wire", "Mexican presidency"]
    at = app.run()
    assert not at.exception, at.exception
    spec = _spec(at)
    marks = [t for t in spec["data"] if t.get("legendgroup") == DRIFT and t["type"] == "bar"]
    assert marks
    weeks = sorted(str(x)[:10] for x in marks[0]["x"])
    assert weeks and all("2025-08-04" <= w <= "2025-08-25" for w in weeks), weeks
    assert "Wire 2025-Q3" in json.dumps(spec["data"])
    caption = _text(at.caption)
    assert f"{len(weeks)} weeks" in caption and "drift" in caption
    # A source the audit sample has never seen is corrected with the rates of all sources: said so.
    assert "Wire: no statement of this source in the audit sample" in _text(at.warning)
    # Without the drifting source the marks go.
    at = at.multiselect(key="source").unselect("Wire").run()
    assert not at.exception, at.exception
    assert not [t for t in _spec(at)["data"] if t.get("legendgroup") == DRIFT]


def test_reliability_page_flags_the_drifting_quarter(drift_store, monkeypatch):
    app = _app(drift_store, monkeypatch)
    at = app.run()
    at.switch_page("views/reliability.py").run()
    assert not at.exception, at.exception
    drift = at.dataframe[-1].value
    wire = drift[(drift["source"] == "Wire") & (drift["quarter"] == "2025-Q3")]
    assert len(wire) == 1 and bool(wire.iloc[0]["new audit labels due"])
    # The quarters of the source the audit sample was drawn from most (and the seeds hold most of) hold.
    mexico = drift[drift["source"] == "Mexican presidency"]
    assert len(mexico) >= 3 and not mexico["new audit labels due"].any()
    flagged = int(drift["new audit labels due"].sum())
    assert f"{flagged} of {len(drift)}" in _text(at.markdown) + _text(at.caption)


# -- the status command ----------------------------------------------------------------------------
def test_status_prints_a_reliability_summary_and_json_has_it(seed_store):
    r = run_cli("status", "--store", str(seed_store))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = [i for i, x in enumerate(lines) if x.startswith("reliability")]
    assert head, r.stdout
    block = "\n".join(lines[head[0]:])
    for t in TOPICS:
        assert t in block
    assert "F1" in block and "warning" in block and "White House: 10 audit positives" in block
    info = json.loads(run_cli("status", "--store", str(seed_store), "--json").stdout)
    rel = info["reliability"]
    assert sorted(rel["topics"]) == TOPICS
    sec = rel["topics"]["security"]
    assert sec["f1"]["low"] < sec["f1"]["value"] < sec["f1"]["high"]
    assert rel["topics"]["sovereignty"]["warnings"] and rel["model_version"] and rel["last_audit"]


def test_status_without_a_usable_model_still_reports_the_store(seed_store, tmp_path):
    env = {"TOPICS_MODEL": str(tmp_path / "missing.skops")}
    r = run_cli("status", "--store", str(seed_store), env=env)
    assert r.returncode == 0, r.stderr
    assert "statements:" in r.stdout and "reliability: not available" in r.stdout
    info = json.loads(run_cli("status", "--store", str(seed_store), "--json", env=env).stdout)
    assert info["reliability"] is None and "missing.skops" in info["reliability_unavailable"]


# -- in a browser ----------------------------------------------------------------------------------
def test_browser_draws_the_corrected_band(dashboard_server):
    exe = need_browser()
    from playwright.sync_api import sync_playwright

    from dashboard.browser import BROWSER_ARGS, POINT, open_page

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(exe), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_page(page, dashboard_server + "/?measure=corrected&granularity=month", POINT, timeout=120_000)
        page.wait_for_selector(".js-plotly-plot .scatterlayer path.js-fill", timeout=60_000)
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "corrected-band.png"), full_page=True)
        fills = page.locator(".js-plotly-plot .scatterlayer path.js-fill").evaluate_all(
            "els => els.map(e => [e.getAttribute('d') || '', getComputedStyle(e).fill])")
        drawn = [f for f in fills if len(f[0]) > 20 and f[1] not in ("none", "")]
        assert len(drawn) >= 4, fills
        assert page.get_by_role("radio", name="corrected").get_attribute("aria-checked") == "true"
        browser.close()
