"""Lead and lag between sources (issue #14): known truth by simulation, the CLI, the dashboard page."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

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


def test_granger_tests_hold_their_size_on_independent_stationary_series():
    """Known truth: two independent AR(1) series (phi 0.5, 230 weeks) where neither leads. A 5 % test
    must reject in about 5 % of them in each direction. 1,000 pairs give 2,000 tests: the standard
    error of a 5 % rate is 0.49 points, so 6 % is two standard errors above nominal. Choosing the
    VAR's order by AIC rejected 6.6 % (AIC picks extra lags precisely when the sample happens to
    have spurious cross-lag structure, and the Wald test then finds it); by HQIC, 4.6 %."""
    rejected = tests = 0
    for i in range(1000):
        rng = np.random.default_rng(20000 + i)
        fit = leadlag.toda_yamamoto(_ar1(rng, WEEKS), _ar1(rng, WEEKS))
        rejected += (fit.p_ab < leadlag.ALPHA) + (fit.p_ba < leadlag.ALPHA)
        tests += 2
    assert 0.035 <= rejected / tests <= 0.06, rejected / tests


def test_prewhitened_cross_correlation_band_holds_independent_series_at_5_percent():
    """Known truth: two independent AR(1) series (phi 0.5, 230 weeks) are uncorrelated at every lag, so
    the dashed 95 % band of the Lead & lag page's cross-correlation should be crossed at about 5 % of
    lags. Over 300 pairs and 17 lags (5,100 correlations; standard error of a 5 % rate about 0.3 points
    if independent), measured 5.1 %; bound 3.5-7 %. Without prewhitening, both series' persistence
    widens the correlations' spread by (1 + phi^2) / (1 - phi^2) and 13 % of lags cross the band."""
    crossed = lags = 0
    for i in range(300):
        rng = np.random.default_rng(40000 + i)
        ccf = leadlag.prewhitened_ccf(_ar1(rng, WEEKS), _ar1(rng, WEEKS))
        crossed += int((np.abs(ccf["ccf"]) > ccf["band"]).sum())
        lags += len(ccf["ccf"])
    assert 0.035 <= crossed / lags <= 0.07, crossed / lags


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
    # The impulse responses the page computes are shown under the cross-correlation, with bands.
    assert any(m.value == "**Impulse responses of migration**" for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2
    # It can be cited: the sources, the tests, the store it ran on.
    (cite,) = [c.value for c in at.code]
    assert cite.startswith("Lead and lag of weekly topic shares between Desk A and Desk B (Toda-Yamamoto")
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


def _var1(rng, n: int, a: np.ndarray, burn: int = 50) -> np.ndarray:
    y = np.zeros((n + burn, 2))
    for t in range(1, n + burn):
        y[t] = a @ y[t - 1] + rng.normal(size=2)
    return y[burn:]


A_TRUE = np.array([[0.5, 0.0], [0.3, 0.4]])  # B responds to last week's A; A ignores B


def _fit(y: np.ndarray, lags: int = 1) -> leadlag.Fit:
    from statsmodels.tsa.api import VAR

    return leadlag.Fit(lags, 0, float("nan"), float("nan"), VAR(y).fit(lags, trend="c"))


def test_impulse_response_bands_hold_the_true_response_of_a_known_var():
    # Unit shocks (the noise's sd is 1): B's true response to A at week h is (A_TRUE^h)[1, 0].
    truth = [np.linalg.matrix_power(A_TRUE, h)[1, 0] for h in range(4)]
    held, held_zero = np.zeros(4), np.zeros(4)
    runs = 100
    for i in range(runs):
        irf = leadlag.impulse_responses(_fit(_var1(np.random.default_rng(300 + i), WEEKS, A_TRUE)), reps=200)
        band, back = irf["a_to_b"], irf["b_to_a"]
        held += [band["low"][h] <= truth[h] <= band["high"][h] for h in range(4)]
        held_zero += [back["low"][h] <= 0 <= back["high"][h] for h in range(4)]  # A never responds to B
    # Weeks 1-3 carry the lead (week 0 is 0 by construction of non-orthogonal responses); measured
    # 94, 93, 90 and 96, 96, 96 of 100.
    assert all(held[1:] >= 0.85 * runs) and all(held_zero[1:] >= 0.85 * runs), (held, held_zero)
    point = leadlag.impulse_responses(_fit(_var1(np.random.default_rng(1), 2000, A_TRUE)), reps=0)
    assert abs(point["a_to_b"]["response"][1] - 0.3) < 0.05 and abs(point["b_to_a"]["response"][1]) < 0.05


def test_impulse_response_bands_are_those_of_refitting_statsmodels_var_draw_by_draw():
    # The bands are computed for all bootstrap draws at once; the plain definition refits
    # statsmodels' VAR on each rebuilt series. Same draws, same bands.
    from statsmodels.tsa.api import VAR

    fit = _fit(_var1(np.random.default_rng(9), WEEKS, A_TRUE), lags=2)
    res, reps = fit.var, 50
    fast = leadlag.impulse_responses(fit, reps=reps, seed=4)
    y, resid, lags = res.endog, res.resid, res.k_ar
    sd = np.sqrt(np.diag(res.sigma_u))
    idx = np.random.default_rng(4).integers(0, len(resid), (reps, len(resid)))
    draws = []
    for r in range(reps):
        e = resid[idx[r]]
        sim = y.copy()
        for t in range(lags, len(y)):
            sim[t] = res.params[0] + sum(res.coefs[i] @ sim[t - 1 - i] for i in range(lags)) + e[t - lags]
        irf = VAR(sim).fit(lags, trend="c").ma_rep(leadlag.MAX_LAG)
        draws.append(np.column_stack([irf[:, 1, 0] * sd[0], irf[:, 0, 1] * sd[1]]))
    for j, key in enumerate(("a_to_b", "b_to_a")):
        assert np.allclose(fast[key]["low"], np.percentile(draws, 2.5, axis=0)[:, j], atol=2e-6)
        assert np.allclose(fast[key]["high"], np.percentile(draws, 97.5, axis=0)[:, j], atol=2e-6)
        assert np.allclose(fast[key]["response"], res.ma_rep(leadlag.MAX_LAG)[:, 1 - j, j] * sd[j], atol=2e-6)


def test_impulse_response_figure_shows_both_directions_in_points_with_bands():
    from dashboard.figures import irf_figure

    irf = {"periods": [0, 1, 2],
           "a_to_b": {"response": [0.0, 0.02, 0.01], "low": [0.0, 0.005, -0.002], "high": [0.0, 0.035, 0.02]},
           "b_to_a": {"response": [0.0, -0.001, 0.0], "low": [0.0, -0.01, -0.008], "high": [0.0, 0.009, 0.007]}}
    fig = irf_figure(irf, "White House", "Mexican presidency").to_dict()
    lines = [t for t in fig["data"] if t.get("mode") == "lines+markers"]
    bands = [t for t in fig["data"] if t.get("fill") == "toself"]
    assert [t["name"] for t in lines] == ["Mexican presidency after a surprise in White House",
                                          "White House after a surprise in Mexican presidency"]
    assert list(lines[0]["y"]) == pytest.approx([0.0, 2.0, 1.0])  # points of share
    assert list(bands[0]["y"]) == pytest.approx([0.0, 3.5, 2.0, -0.2, 0.5, 0.0])  # high, then low reversed
    assert fig["layout"]["yaxis"]["title"]["text"] == "change in weekly share (points)"
