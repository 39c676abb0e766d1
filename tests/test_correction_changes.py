"""Changes of corrected shares between weeks against synthetic data where the truth is known.

As in ``test_correction``: statements score from fixed Beta distributions per class (so the tagger's
true and false positive rates are known), each week has a known true share of positives, and an
audit sample is drawn from the same tagger. A week's change against the previous week, and against
the mean of the eight weeks before it that have statements, must be unbiased, and its 95 % interval
(from the shares' own bootstrap replicates, paired across weeks) must cover the true change about
95 % of the time. The pairing is what makes it narrower than two weeks' intervals combined.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pipeline import correction as c
from tests.test_correction import AUDIT_SHARE, PERIOD_STATEMENTS, _scores

WEEKS = 12
EMPTY_WEEK = 5  # a week without statements (a holiday): no share, and no base of a change
WINDOW = 8


def _audit_rates(rng, audit_size: int, seed: int) -> c.Rates:
    gold = rng.random(audit_size) < AUDIT_SHARE
    return c.fit_rates(_scores(rng, gold), gold, np.array(["x"] * audit_size), seed=seed)["x"]


def _week_sums(rng, shares, statements: int, empty: int | None = None):
    """n, s1, s2 (weeks x 1 stratum) of weeks whose statements are about the topic with ``shares``."""
    weeks = len(shares)
    n = np.full((weeks, 1), float(statements))
    s1, s2 = np.zeros((weeks, 1)), np.zeros((weeks, 1))
    if empty is not None:
        n[empty] = 0
    for k in range(weeks):
        if n[k, 0]:
            s = _scores(rng, rng.random(statements) < shares[k])
            s1[k], s2[k] = s.sum(), (s * s).sum()
    return n, s1, s2


def _simulate_changes(audit_size: int, audits: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    """Per kind of change ("previous", "mean"): rows (true change, estimate, low, high) over
    ``audits`` audit samples of ``WEEKS`` weeks each, whose true shares walk at random."""
    rng = np.random.default_rng(seed)
    previous, recent = c.previous_bases(list(range(WEEKS)), 1, WINDOW)
    rows: dict[str, list] = {"previous": [], "mean": []}
    for a in range(audits):
        rates = _audit_rates(rng, audit_size, a)
        # A known true share per week: a random walk, so that changes are of the size weeks show.
        p = np.clip(rng.uniform(0.05, 0.4) + np.cumsum(rng.uniform(-0.08, 0.08, WEEKS)), 0.02, 0.5)
        n, s1, s2 = _week_sums(rng, p, PERIOD_STATEMENTS, EMPTY_WEEK)
        reps = c.replicates(n, s1, s2, [rates], seed=a)
        for kind, bases, first in (("previous", previous, 1), ("mean", recent, WINDOW)):
            ch = reps.changes(bases)
            for k in range(first, WEEKS):
                with_statements = [j for j in bases[k] if j != EMPTY_WEEK]
                if k == EMPTY_WEEK or not with_statements:
                    assert np.isnan(ch.share[k]) and np.isnan(ch.low[k])  # nothing to compare
                    continue
                truth = p[k] - p[with_statements].mean()  # the empty week is no part of the mean
                rows[kind].append((truth, ch.share[k], ch.low[k], ch.high[k]))
    return {kind: np.array(r) for kind, r in rows.items()}


@pytest.mark.parametrize("audit_size", [200, 1000])
def test_corrected_change_is_unbiased_and_its_interval_covers_the_true_change(audit_size):
    out = _simulate_changes(audit_size)
    assert len(out["previous"]) == 100 * 9 and len(out["mean"]) == 100 * 4
    for kind, rows in out.items():
        truth, est, low, high = rows.T
        assert abs(float((est - truth).mean())) < 0.005, kind
        # Rises and falls alike: no pull towards zero (as-tagged changes are shrunk by the tagger's errors).
        for band in (truth < 0, truth >= 0):
            assert abs(float((est - truth)[band].mean())) < 0.01, kind
        coverage = float(((low <= truth) & (truth <= high)).mean())
        assert 0.90 <= coverage <= 0.99, (kind, coverage)
        assert (low <= est).all() and (est <= high).all()


def test_paired_interval_of_a_change_is_narrower_than_two_weeks_intervals_combined():
    """With few audit statements and many statements a week, the audit's uncertainty dominates each
    week's interval; it moves both weeks alike, so their change is known far better than either
    share. Combining the two intervals as if independent (half-widths in quadrature) ignores that:
    much wider, and covering the truth nearly always. The paired interval still covers ~95 %."""
    rng = np.random.default_rng(11)
    truth = 0.34 - 0.30
    paired, unpaired = [], []
    for a in range(150):
        rates = _audit_rates(rng, 150, a)
        n, s1, s2 = _week_sums(rng, [0.30, 0.34], 20_000)
        reps = c.replicates(n, s1, s2, [rates], seed=a)
        shares, ch = reps.shares(), reps.changes([[], [0]])
        half = np.hypot((shares.high[1] - shares.low[1]) / 2, (shares.high[0] - shares.low[0]) / 2)
        paired.append((ch.low[1], ch.high[1]))
        unpaired.append((ch.share[1] - half, ch.share[1] + half))
    paired, unpaired = np.array(paired), np.array(unpaired)
    width_paired = paired[:, 1] - paired[:, 0]
    width_unpaired = unpaired[:, 1] - unpaired[:, 0]
    assert (width_paired < width_unpaired).all()
    assert width_paired.mean() < 0.4 * width_unpaired.mean(), (width_paired.mean(), width_unpaired.mean())
    cover_paired = float(((paired[:, 0] <= truth) & (truth <= paired[:, 1])).mean())
    cover_unpaired = float(((unpaired[:, 0] <= truth) & (truth <= unpaired[:, 1])).mean())
    assert 0.90 <= cover_paired <= 0.99, cover_paired
    assert cover_unpaired > 0.99, cover_unpaired


def test_changes_come_from_the_shares_own_replicates():
    """The change's point is the difference of the shares' points, and its bounds are quantiles of
    the differences of the very replicates that give the shares' intervals."""
    rng = np.random.default_rng(4)
    rates = _audit_rates(rng, 500, 0)
    n, s1, s2 = _week_sums(rng, [0.1, 0.2, 0.15, 0.3], 300, empty=2)
    reps = c.replicates(n, s1, s2, [rates], seed=3)
    shares = c.corrected_shares(n, s1, s2, [rates], seed=3)
    assert np.array_equal(reps.shares().low, shares.low, equal_nan=True)
    ch = c.corrected_changes(n, s1, s2, [rates], [[], [0], [1], [0, 1, 2]], seed=3)
    assert np.isnan(ch.share[0]) and np.isnan(ch.share[2])  # no base; no statements
    assert ch.share[1] == pytest.approx(shares.share[1] - shares.share[0])
    # The empty week 2 is left out of week 3's mean.
    assert ch.share[3] == pytest.approx(shares.share[3] - (shares.share[0] + shares.share[1]) / 2)
    diff = reps.reps[:, 1] - reps.reps[:, 0]
    alpha = (1 - c.LEVEL) / 2
    assert (ch.low[1], ch.high[1]) == tuple(np.quantile(diff, [alpha, 1 - alpha]))
    with pytest.raises(ValueError):
        reps.changes([[0]])


def test_previous_bases_skip_weeks_without_statements():
    mondays = [dt.date(2026, 1, 5) + dt.timedelta(weeks=k) for k in (0, 1, 3, 4, 12)]
    previous, recent = c.previous_bases(mondays, dt.timedelta(weeks=1), 8)
    assert previous == [[], [0], [], [2], []]
    assert recent == [[], [0], [1, 0], [2, 1, 0], [3]]  # 8 weeks before the last: only the fourth
