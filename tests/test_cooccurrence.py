"""Topics that come up together, corrected for the tagger's errors, against synthetic data where the
truth is known; then what the heat map and the Compare page show of it.

Statements are about topic A, B, both or neither with known rates; a synthetic tagger finds each
topic with a known true-positive rate and tags it wrongly with a known false-positive rate; the
audit sample is drawn from the same process and labelled with the truth. A small labelled set
(statements the model learnt, tagged right and counted with their labels) rides along, as in the
store. The corrected share of statements about both must hold the true share in its 95 % interval
about 95 % of the time; the share tagged with both must be biased.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from dashboard.figures import COOC_THIN, COOC_WIDE, cooccurrence_figure
from pipeline import cooccurrence as co
from pipeline import correction

BITS = {"a": 0, "b": 1}
# P(about A only, B only, both, neither) and the tagger's rates per topic (true-, false-positive).
MIX = (0.08, 0.06, 0.045, 0.815)
TPR, FPR = {"a": 0.75, "b": 0.65}, {"a": 0.03, "b": 0.02}
TRUE_JOINT = MIX[2]
LABELLED_SHARE = 0.05  # statements of the labelled set: tagged right, counted with their labels


def _statements(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth and tags, (n x 2) booleans: columns a, b."""
    kind = rng.choice(4, size=n, p=MIX)
    gold = np.stack([(kind == 0) | (kind == 2), (kind == 1) | (kind == 2)], axis=1)
    rate = np.where(gold, [TPR["a"], TPR["b"]], [FPR["a"], FPR["b"]])
    return gold, rng.random(gold.shape) < rate


def _masks(gold: np.ndarray, tags: np.ndarray, labelled: np.ndarray) -> pd.DataFrame:
    """``queries.mask_counts`` rows of a period's statements (one source)."""
    tags = np.where(labelled[:, None], gold, tags)  # the model learnt the labelled set's statements
    tag_mask = tags[:, 0] * 1 + tags[:, 1] * 2
    gold_mask = np.where(labelled, gold[:, 0] * 1 + gold[:, 1] * 2, -1)
    n = np.bincount(tag_mask * 5 + gold_mask + 1, minlength=20)  # one count per (tag mask, gold mask)
    keys = np.flatnonzero(n)
    return pd.DataFrame({"source": "S", "tag_mask": keys // 5, "gold_mask": keys % 5 - 1, "n": n[keys]})


def _replicate(seed: int, audit_size: int, period: int) -> tuple[float, float, float, float, int]:
    """One audit sample and one period: corrected joint share, its interval, the share tagged with
    both, and the audit's statements about both."""
    rng = np.random.default_rng(seed)
    gold, tags = _statements(rng, audit_size)
    rates = co.joint_rates(tags, gold, np.array(["S"] * audit_size), 0, 1, seed=seed)
    g, t = _statements(rng, period)
    out = co.corrected_pairs(_masks(g, t, rng.random(period) < LABELLED_SHARE), BITS, ["a", "b"],
                             {("a", "b"): rates})
    cell = out[(out.topic_a == "a") & (out.topic_b == "b")].iloc[0]
    return cell.share_corrected, cell.ci_low, cell.ci_high, cell.share, rates[correction.POOLED].n_pos


def test_corrected_joint_share_covers_the_truth_and_the_tagged_share_is_biased():
    # 300 replicates, each its own audit sample of 800 statements (about 36 about both: near
    # MIN_JOINT_POSITIVES, like the real audit's 32 on migration and security, where t̂ is least sure)
    # and its own period of 20,000 statements. Those whose audit holds fewer than 30 statements about
    # both must stay uncorrected; over the others (about 250) a 95 % interval covers the truth in
    # 0.95 ± 0.014 (binomial sd), so 0.91-0.99 leaves room for nearly three sds and a bootstrap
    # that is a little off at 30 positives, while the same intervals cut to three quarters of their
    # width cover it in 0.84 and fail (measured: 0.951 of 264 corrected; the point alone covers none).
    runs = [_replicate(seed, 800, period=20000) for seed in range(300)]
    est, low, high, raw, positives = map(np.array, zip(*runs))
    thin = positives < co.MIN_JOINT_POSITIVES
    assert np.isnan(est[thin]).all() and np.isfinite(est[~thin]).all()
    assert 200 <= (~thin).sum() <= 290, (~thin).sum()
    est, low, high, raw = est[~thin], low[~thin], high[~thin], raw[~thin]
    coverage = float(((low <= TRUE_JOINT) & (TRUE_JOINT <= high)).mean())
    assert 0.91 <= coverage <= 0.99, coverage
    bias = float(est.mean() - TRUE_JOINT)
    assert abs(bias) < 0.003, bias
    # Tagged with both: each tag misses some, so the share tagged with both is about half the truth.
    raw_bias = float(raw.mean() - TRUE_JOINT)
    assert raw_bias < -0.015 and abs(raw_bias) > 5 * abs(bias), (raw_bias, bias)
    assert float(((raw < low) | (raw > high)).mean()) > 0.75  # mostly outside the interval (0.83 measured)


def test_a_pair_with_too_few_audit_positives_is_shown_as_tagged_never_corrected():
    rng = np.random.default_rng(7)
    gold, tags = _statements(rng, 500)  # about 15 statements about both
    rates = co.joint_rates(tags, gold, np.array(["S"] * 500), 0, 1)
    assert rates[correction.POOLED].n_pos < co.MIN_JOINT_POSITIVES
    g, t = _statements(rng, 5000)
    out = co.corrected_pairs(_masks(g, t, np.zeros(5000, bool)), BITS, ["a", "b"], {("a", "b"): rates})
    cell = out[(out.topic_a == "b") & (out.topic_b == "a")].iloc[0]  # both triangles hold the pair
    assert cell.status == co.THIN and np.isnan(cell.share_corrected) and np.isnan(cell.ci_low)
    assert cell.audit_positives == rates[correction.POOLED].n_pos
    assert cell["count"] == int((t[:, 0] & t[:, 1]).sum()) and cell.total == 5000
    # Without an audit sample nothing is corrected.
    bare = co.corrected_pairs(_masks(g, t, np.zeros(5000, bool)), BITS, ["a", "b"], None)
    assert set(bare["status"]) == {co.NO_AUDIT} and bare["share_corrected"].isna().all()


def test_cell_status():
    assert co.cell_status(0.02, 0.015, 0.026, 40) == co.CORRECTED
    assert co.cell_status(0.02, 0.005, 0.04, 40) == co.WIDE  # 3.5 points wide around 2
    assert co.cell_status(0.02, 0.015, 0.026, 29) == co.THIN
    assert co.cell_status(float("nan"), float("nan"), float("nan"), 80) == co.THIN  # t̂ <= f̂: nothing to correct
    assert co.cell_status(0.02, 0.015, 0.026, None) == co.NO_AUDIT


def test_labelled_statements_count_their_labels_and_stay_in_the_tagged_count():
    masks = pd.DataFrame({"source": ["S", "S", "S"], "tag_mask": [3, 1, 3], "gold_mask": [-1, 3, 1], "n": [10, 4, 2]})
    strata, n, both, count = co.pair_sums(masks, 0, 1)
    assert strata == ["(labelled set)", "S"]
    assert list(n) == [6, 10] and list(both) == [4, 10]  # labels inside the labelled set, tags outside
    assert count == 12  # as tagged: every statement tagged with both


# -- the figure ------------------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    cells = {("migration", "migration"): (900, 0.09, 0.11, 0.1, 0.12, 129, co.CORRECTED),
             ("security", "security"): (1100, 0.11, 0.12, 0.11, 0.13, 520, co.CORRECTED),
             ("trade", "trade"): (300, 0.03, 0.05, 0.04, 0.06, 91, co.CORRECTED),
             ("migration", "security"): (80, 0.008, 0.012, 0.009, 0.016, 32, co.CORRECTED),
             ("security", "trade"): (20, 0.002, float("nan"), float("nan"), float("nan"), 6, co.THIN),
             ("migration", "trade"): (5, 0.0005, 0.001, 0.0002, 0.003, 30, co.WIDE)}
    rows = []
    for (a, b), (count, share, corr, lo, hi, pos, status) in cells.items():
        for x, y in {(a, b), (b, a)}:
            rows.append({"topic_a": x, "topic_b": y, "count": count, "total": 10000, "share": share,
                         "share_corrected": corr, "ci_low": lo, "ci_high": hi, "audit_positives": pos,
                         "status": status})
    return pd.DataFrame(rows, columns=co.COLUMNS)


def _heatmaps(fig: dict) -> tuple[dict, dict]:
    """The diagonal's heat map (grey) and the pairs' (coloured by corrected share)."""
    maps = {t["name"]: t for t in fig["data"] if t["type"] == "heatmap"}
    return maps["the topic's own share"], maps["corrected share"]


def test_heat_map_colours_corrected_pairs_marks_the_rest_and_hovers_the_interval():
    fig = cooccurrence_figure(_frame()).to_dict()
    diag, hm = _heatmaps(fig)
    topics = ["migration", "security", "trade"]
    assert list(hm["x"]) == topics and list(hm["y"]) == topics
    z = [list(r) for r in hm["z"]]
    assert z[0][1] == z[1][0] == pytest.approx(0.012) and z[0][2] == pytest.approx(0.001)
    assert z[1][2] is None and z[2][1] is None  # the thin pair carries no colour
    assert all(z[i][i] is None for i in range(3)) and all(diag["z"][i][i] == 1 for i in range(3))
    assert diag["text"][0][0] == "11.0 %<br>(10.0 % – 12.0 %)" and diag["showscale"] is False
    assert hm["text"][0][1] == "1.2 %<br>(0.90 % – 1.6 %)"
    assert hm["zmin"] == 0 and hm["zmax"] == pytest.approx(0.012)  # the pairs' own scale
    hover = hm["hovertext"][0][1]
    assert "1.2 % of statements about both, corrected" in hover and "95 % interval 0.90 % – 1.6 %" in hover
    assert "80 of 10,000" in hover and "32 audit statements about both" in hover
    assert "about migration" in hm["hovertext"][0][0] and "129 audit statements" in hm["hovertext"][0][0]
    thin = [t for t in fig["data"] if t["name"] == COOC_THIN][0]
    assert sorted(zip(thin["x"], thin["y"])) == [("security", "trade"), ("trade", "security")]
    assert list(thin["text"]) == ["0.20 %*", "0.20 %*"]
    assert "not corrected" in thin["hovertext"][0] and "only 6 audit statements about both" in thin["hovertext"][0]
    assert f"{co.MIN_JOINT_POSITIVES} needed" in thin["hovertext"][0]
    # The legend names the mark with an asterisk, not with Plotly's "Aa" of a text trace.
    entries = [t for t in fig["data"] if t["name"] == COOC_THIN and t.get("showlegend") is not False]
    assert [(t["mode"], t["marker"]["symbol"]) for t in entries] == [("markers", "asterisk-open")]
    # The wide pair: coloured, outlined inside its cell (row trade = 2, column migration = 0 and back).
    outlines = sorted((round((s["x0"] + s["x1"]) / 2), round((s["y0"] + s["y1"]) / 2))
                      for s in fig["layout"]["shapes"])
    assert outlines == [(0, 2), (2, 0)]
    assert "wider than the share" in hm["hovertext"][0][2]
    assert [t for t in fig["data"] if t["name"] == COOC_WIDE]  # the outline's legend entry
    assert fig["layout"]["showlegend"] is True


def test_heat_map_without_audit_says_as_tagged():
    df = _frame()
    df["status"], df["audit_positives"] = co.NO_AUDIT, None
    df[["share_corrected", "ci_low", "ci_high"]] = float("nan")
    fig = cooccurrence_figure(df).to_dict()
    assert all(c is None for t in _heatmaps(fig) for r in t["z"] for c in r)
    thin = [t for t in fig["data"] if t["name"] == COOC_THIN][0]
    assert len(thin["x"]) == 9 and "no audit sample" in thin["hovertext"][0]
    assert not fig["layout"].get("shapes")


# -- the page --------------------------------------------------------------------------------------
def test_compare_page_corrects_co_occurrence_and_marks_thin_pairs(app, media):
    at = app.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    diag, hm = _heatmaps([c for c in charts if any(t["type"] == "heatmap" for t in c["data"])][0])
    topics = list(hm["x"])
    assert topics == ["migration", "security", "sovereignty", "trade"]
    # Every diagonal cell corrected (35+ audit positives each); migration + security (32 audit
    # statements about both) corrected; every other pair (at most 9) shown as tagged and marked.
    for i in range(len(topics)):
        assert diag["z"][i][i] is not None and "95 % interval" in hm["hovertext"][i][i]
    m, s = topics.index("migration"), topics.index("security")
    assert hm["z"][m][s] is not None and "32 audit statements about both" in hm["hovertext"][m][s]
    marked = [t for c in charts for t in c["data"] if t.get("name") == COOC_THIN][0]
    assert len(marked["x"]) == 10  # 5 pairs, both triangles
    assert all("not corrected" in h for h in marked["hovertext"])
    captions = " ".join(c.value for c in at.caption)
    assert "corrected for the tagger's errors, with its 95 % interval" in captions
    assert f"fewer than {co.MIN_JOINT_POSITIVES} statements about both" in captions
    button = [b for b in at.get("download_button") if b.proto.label == "Download co-occurrence data (CSV)"][0]
    data = media[-1].get_file(button.proto.url.rsplit("/", 1)[-1]).content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert {"topic_a", "topic_b", "count", "share", "share_corrected", "ci_low", "ci_high", "audit_positives",
            "status"} <= set(rows[0])
    corrected = [r for r in rows if r["status"] in (co.CORRECTED, co.WIDE)]
    assert corrected and all(float(r["ci_low"]) <= float(r["share_corrected"]) <= float(r["ci_high"])
                             for r in corrected)
