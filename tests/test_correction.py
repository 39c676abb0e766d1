"""Corrected shares against synthetic data where the truth is known.

Statements are drawn from fixed score distributions per class (positives score high, negatives
low, with overlap), with a known share of positives per period; an audit sample is drawn the same
way with the share the tagger was trained at. The corrected share must be unbiased and its 95 %
interval must cover the truth about 95 % of the time; the raw (classify-and-count) share must
show the bias that the correction removes.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import correction as c

POS, NEG = (5.0, 2.0), (1.5, 10.0)   # Beta parameters of the scores of positives and negatives
AUDIT_SHARE = 0.2                   # the share of positives the audit sample (and training) sees
PERIOD_STATEMENTS = 400


def _scores(rng, gold):
    return np.where(gold, rng.beta(*POS, len(gold)), rng.beta(*NEG, len(gold)))


def _simulate(audit_size: int, audits: int = 50, periods: int = 10, seed: int = 0):
    """500 periods (50 audit samples x 10 periods each): truth, corrected share, interval, raw share."""
    rng = np.random.default_rng(seed)
    truth, est, low, high, raw = [], [], [], [], []
    for a in range(audits):
        gold = rng.random(audit_size) < AUDIT_SHARE
        rates = c.fit_rates(_scores(rng, gold), gold, np.array(["x"] * audit_size), seed=a)["x"]
        p = rng.uniform(0.02, 0.5, periods)
        n = np.full((periods, 1), PERIOD_STATEMENTS)
        s1, s2 = np.zeros((periods, 1)), np.zeros((periods, 1))
        for k in range(periods):
            s = _scores(rng, rng.random(PERIOD_STATEMENTS) < p[k])
            s1[k], s2[k] = s.sum(), (s * s).sum()
            raw.append((s >= 0.5).mean())
        out = c.corrected_shares(n, s1, s2, [rates], seed=a)
        truth.extend(p)
        est.extend(out.share)
        low.extend(out.low)
        high.extend(out.high)
    return tuple(map(np.array, (truth, est, low, high, raw)))


@pytest.mark.parametrize("audit_size", [200, 1000])
def test_corrected_share_is_unbiased_and_its_interval_covers_the_truth(audit_size):
    truth, est, low, high, raw = _simulate(audit_size)
    assert len(truth) == 500
    bins = np.digitize(truth, [0.1, 0.2, 0.3, 0.4])
    bias = [float((est - truth)[bins == k].mean()) for k in range(5)]
    assert np.mean(np.abs(bias)) < 0.01, bias
    assert abs(float((est - truth).mean())) < 0.01
    coverage = float(((low <= truth) & (truth <= high)).mean())
    assert 0.93 <= coverage <= 0.97, coverage
    # The raw share's bias grows as the true share moves away from the audit's (training) share.
    raw_bias = [float((raw - truth)[bins == k].mean()) for k in range(5)]
    assert abs(raw_bias[4]) > 0.03 > abs(raw_bias[0]), raw_bias
    assert all(abs(raw_bias[k + 1]) > abs(raw_bias[k]) for k in range(1, 4)), raw_bias
    assert abs(raw_bias[4]) > 4 * abs(bias[4])


def test_more_audit_statements_give_narrower_intervals():
    t200, _, lo200, hi200, _ = _simulate(200, audits=10)
    t1000, _, lo1000, hi1000, _ = _simulate(1000, audits=10)
    assert np.mean(hi1000 - lo1000) < np.mean(hi200 - lo200)


def test_strata_pool_by_their_statements_and_fall_back_to_pooled_rates():
    rng = np.random.default_rng(3)
    # Source A: well separated, many positives; source B: few positives -> pooled rates.
    gold_a = rng.random(1000) < 0.3
    gold_b = rng.random(300) < 0.05
    scores = np.concatenate([_scores(rng, gold_a), _scores(rng, gold_b)])
    gold = np.concatenate([gold_a, gold_b])
    strata = np.array(["A"] * 1000 + ["B"] * 300)
    rates = c.fit_rates(scores, gold, strata, seed=0)
    assert not rates["A"].pooled_fallback and rates["A"].n_pos >= 30
    assert rates["B"].pooled_fallback and rates["B"].n_pos < 30
    assert rates["B"].t == rates[c.POOLED].t
    assert rates["B"].f != rates[c.POOLED].f  # its own negatives (plenty) give its own f
    # A period of 300 statements of A at share 0.4 and 100 of B at share 0.0: pooled truth 0.3.
    ga, gb = rng.random(3000) < 0.4, np.zeros(1000, dtype=bool)
    sa, sb = _scores(rng, ga), _scores(rng, gb)
    out = c.corrected_shares([[3000, 1000]], [[sa.sum(), sb.sum()]], [[(sa ** 2).sum(), (sb ** 2).sum()]],
                             [rates["A"], rates["B"]])
    assert abs(out.share[0] - (ga.sum() / 4000)) < 0.02
    assert out.low[0] < out.share[0] < out.high[0]


def test_a_period_without_statements_has_no_share():
    rates = c.fit_rates(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0], bool), np.array(["x"] * 4),
                        min_positives=1)
    out = c.corrected_shares([[0], [10]], [[0.0], [5.0]], [[0.0], [3.0]], [rates["x"]])
    assert np.isnan(out.share[0]) and np.isnan(out.low[0])
    assert out.share[1] == pytest.approx((0.5 - 0.15) / (0.85 - 0.15))


def test_reliability_card_numbers():
    rng = np.random.default_rng(5)
    gold = rng.random(2000) < 0.2
    scores = _scores(rng, gold)
    card = c.reliability(scores, gold, 0.5, np.array(["x"] * 2000), seed=1)
    pred = scores >= 0.5
    tp = (pred & gold).sum()
    assert card["precision"]["value"] == pytest.approx(tp / pred.sum(), abs=1e-4)
    assert card["recall"]["value"] == pytest.approx(tp / gold.sum(), abs=1e-4)
    assert card["f1"]["low"] < card["f1"]["value"] < card["f1"]["high"]
    assert card["audit_positives"] == int(gold.sum())
    # Beta(5,2) positives are not calibrated probabilities (a score of 0.7 is right more often than
    # 70 % here): the expected calibration error says so; perfectly calibrated scores have nearly none.
    assert card["ece"] > 0.05
    calibrated = rng.random(20000)
    assert c.expected_calibration_error(calibrated, rng.random(20000) < calibrated) < 0.02


def test_population_stability_index_flags_a_shifted_score_distribution():
    rng = np.random.default_rng(7)
    gold = rng.random(2000) < 0.2
    s = _scores(rng, gold)
    pos, neg = c.histogram(s[gold]), c.histogram(s[~gold])
    same = _scores(rng, rng.random(3000) < 0.3)
    assert c.psi(c.histogram(same), c.expected_histogram(0.3, pos, neg)) < c.PSI_WARN
    # Negatives that now score higher (new vocabulary the tagger half-recognises): drift.
    shifted = np.where(rng.random(3000) < 0.3, rng.beta(*POS, 3000), rng.beta(3, 6, 3000))
    assert c.psi(c.histogram(shifted), c.expected_histogram(0.3, pos, neg)) > c.PSI_WARN
