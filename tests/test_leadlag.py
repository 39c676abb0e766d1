"""Lead and lag between sources (issue #14): known truth by simulation, the CLI, the dashboard page."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

from pipeline import leadlag, store
from tests.conftest import run_cli

SIMULATIONS = 200
WEEKS = 230  # about the weeks in which the White House and the Mexican presidency both speak


def _ar1(rng, n: int, phi: float = 0.5, burn: int = 50) -> np.ndarray:
    x = np.zeros(n + burn)
    for t in range(1, n + burn):
        x[t] = phi * x[t - 1] + rng.normal()
    return x[burn:]


def _verdict(a: np.ndarray, b: np.ndarray) -> dict:
    return leadlag.verdicts([leadlag.analyse(a, b, irf_reps=0)], "A", "B")[0]


def test_b_following_a_two_weeks_later_reads_a_precedes_b_lag_2():
    hits = 0
    for i in range(SIMULATIONS):
        rng = np.random.default_rng(1000 + i)
        a = _ar1(rng, WEEKS + 2)
        b = 0.4 * a[:-2] + _ar1(rng, WEEKS)  # B = 0.4 x A two weeks earlier + AR(1) noise
        hits += _verdict(a[2:], b)["verdict"] == "A precedes B, lag 2"
    assert hits >= 0.8 * SIMULATIONS, hits


def test_independent_random_walks_rarely_read_as_precedes():
    false = unit_root = 0
    for i in range(SIMULATIONS):
        rng = np.random.default_rng(5000 + i)
        r = _verdict(np.cumsum(rng.normal(size=WEEKS)), np.cumsum(rng.normal(size=WEEKS)))
        unit_root += r["d_max"] == 1  # the VAR gets its extra lag
        false += "precedes" in r["verdict"]
    assert false <= 0.05 * SIMULATIONS, false
    assert unit_root >= 0.9 * SIMULATIONS, unit_root


def test_verdicts_never_say_causes_and_adjust_over_topics_and_directions():
    rng = np.random.default_rng(7)
    a = _ar1(rng, WEEKS + 2)
    results = [{"topic": "x", **leadlag.analyse(a[2:], 0.4 * a[:-2] + _ar1(rng, WEEKS), irf_reps=20)},
               {"topic": "y", **leadlag.analyse(_ar1(rng, WEEKS), _ar1(rng, WEEKS), irf_reps=0)}]
    out = leadlag.verdicts(results, "A", "B")
    raw = [p for r in results for p in (r["p_a_precedes_b"], r["p_b_precedes_a"])]
    adj = [p for r in out for p in (r["p_adj_a_precedes_b"], r["p_adj_b_precedes_a"])]
    assert all(q >= p for p, q in zip(raw, adj)) and adj != raw
    assert all("cause" not in r["verdict"] for r in out)
    irf = out[0]["irf"]["a_to_b"]
    assert irf["low"][2] <= irf["response"][2] <= irf["high"][2] and irf["response"][2] > 0


def test_cli_leadlag_on_a_corpus_where_b_follows_a(synthetic_store):
    r = run_cli("leadlag", "--store", str(synthetic_store), "--a", "Desk A", "--b", "Desk B", "--topic", "migration",
                "--bootstrap", "50", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    m = out["topics"][0]
    assert m["topic"] == "migration" and m["weeks"] == 160 and m["measure"] in ("corrected", "raw")
    assert m["p_adj_a_precedes_b"] < 0.01 and m["ccf_peak"]["lag"] == 2
    assert "Desk A" in m["verdict"] and "precede" in m["verdict"] and "causes" not in m["verdict"]
    assert "not \"causes\"" in out["caveat"]
    r = run_cli("leadlag", "--store", str(synthetic_store), "--a", "Desk A", "--b", "Desk B", "--topic", "migration",
                "--bootstrap", "0")
    assert r.returncode == 0 and "migration" in r.stdout and "p=" in r.stdout and "Precedes" in r.stdout


def test_cli_leadlag_refuses_unknown_sources_and_says_why(synthetic_store):
    r = run_cli("leadlag", "--store", str(synthetic_store))  # the default sources are not in this store
    assert r.returncode == 2
    assert "--a/--b: 'White House', 'Mexican presidency' not in the store" in r.stderr
    r = run_cli("leadlag", "--store", str(synthetic_store), "--a", "Desk A", "--b", "Desk A")
    assert r.returncode == 2 and "two different sources" in r.stderr


def test_lead_lag_page_shows_verdicts_the_caveat_and_the_cross_correlation(synthetic_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard import analysis, data
    from tests.conftest import ROOT

    monkeypatch.setenv("TOPICS_STORE", str(synthetic_store))
    data.facets.clear()
    analysis.lead_lag.clear()
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["a"] = "Desk A"
    at.query_params["b"] = "Desk B"
    at.run()
    at.switch_page("views/leadlag.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Lead & lag"
    assert at.selectbox(key="a").value == "Desk A" and at.selectbox(key="b").value == "Desk B"
    table = at.dataframe[0].value
    row = table[table["topic"] == "migration"].iloc[0]
    verdict = next(m.value for m in at.markdown if m.value.startswith("**migration**"))
    assert "Desk A" in verdict and row["CCF peak lag"] == "2"
    assert any("not \\\"causes\\\"" in w.value or "causes" in w.value for w in at.warning)
    assert at.selectbox(key="ll_topic").value == "migration"
    assert at.get("plotly_chart")
    weeks = int(row["weeks"])
    # The sidebar's topics and dates apply: one topic, and only the weeks of the range.
    at.sidebar.multiselect(key="topics").set_value(["migration"]).run()
    assert list(at.dataframe[0].value["topic"]) == ["migration"]
    first = dt.date(2024, 1, 1)
    at.sidebar.date_input(key="dates").set_value((first, dt.date(2024, 12, 31))).run()
    assert not at.exception, at.exception
    row = at.dataframe[0].value.iloc[0]
    pair, _ = leadlag.paired_series(store.open_readonly(synthetic_store), "migration", "Desk A", "Desk B")
    in_2024 = sum(first - dt.timedelta(days=first.weekday()) <= w <= dt.date(2024, 12, 31) for w in pair["week"])
    assert int(row["weeks"]) == in_2024 < weeks and in_2024 > 40
    # Too few weeks to test: a dash where there is no number, never "None".
    at.sidebar.date_input(key="dates").set_value((first, dt.date(2024, 6, 30))).run()
    row = at.dataframe[0].value.iloc[0]
    assert row["p (Desk A first)"] == "—" and row["CCF peak lag"] == "—"
    assert any("not tested" in m.value for m in at.markdown)
