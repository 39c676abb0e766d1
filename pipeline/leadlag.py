"""Lead and lag between two sources on a topic: does one raise it before the other?

On the weekly shares of the weeks in which both sources speak (corrected shares when an audit
sample is available):

- **cross-correlation at lags -8..+8 after prewhitening** (Box-Jenkins): an AR model fitted to A
  filters both series, so that A's own persistence does not smear the correlation over many lags;
  lag k > 0 correlates A with B k weeks later;
- **Toda-Yamamoto Granger tests** in both directions: VAR order p by HQIC on levels, d_max the
  highest integration order of the two series (ADF and KPSS), a VAR(p + d_max) in levels, and a
  Wald test that the first p lags of the cause are zero (the extra d_max lags keep the test's
  chi-squared distribution valid when a series has a unit root);
- **impulse responses** with residual-bootstrap bands;
- p-values adjusted over topics and directions (Benjamini-Hochberg).

The verdict says "precedes", never "causes": a common shock (a border crisis, a tariff deadline)
moves both sources, and the one that reacts faster "precedes" without causing anything.
The VAR, the unit-root tests and the adjustment are statsmodels' (a kept library).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import events

MAX_LAG = 8
MIN_WEEKS = 40  # fewer common weeks than this: no test (a VAR(8) in two series has 17 parameters an equation)
ALPHA = 0.05
# The most impulse-response replications asked for at once: their draws are held together as arrays
# (20,000 took 2.5 GB and 10 s on the full store); 200 already give stable 95 % bands.
MAX_IRF_REPS = 5000
DEFAULT_SOURCES = ("White House", "Mexican presidency")
CAVEAT = ("\"Precedes\" is not \"causes\": a common shock (a border crisis, a tariff deadline, an election) "
          "moves both sources, and the one that reacts faster precedes the other without causing anything. "
          "The tests see only the weeks both sources speak, and the tagger's errors (corrected where an audit "
          "exists) add noise that hides weak leads.")


def _quiet() -> warnings.catch_warnings:
    """statsmodels warns about interpolated KPSS p-values and the like: not the user's business."""
    return warnings.catch_warnings(action="ignore")


def integration_order(x: np.ndarray) -> int:
    """0 when ADF rejects a unit root and KPSS does not reject stationarity (5 %), else 1.

    Shares are bounded, so I(2) is not considered; when the two tests disagree the higher order is
    taken, which costs the Toda-Yamamoto test an extra lag but keeps it valid.
    """
    from statsmodels.tsa.stattools import adfuller, kpss

    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0:
        return 0
    with _quiet():
        adf_p = adfuller(x, autolag="AIC")[1]
        kpss_p = kpss(x, regression="c", nlags="auto")[1]
    return 0 if adf_p < ALPHA and kpss_p >= ALPHA else 1


def prewhitened_ccf(a: np.ndarray, b: np.ndarray, max_lag: int = MAX_LAG) -> dict:
    """Cross-correlation of A and B after filtering both with an AR model of A (order by AIC, <= 8).

    Returns lags (-max_lag..max_lag), ccf (corr(A_t, B_{t+k})), the 95 % band (1.96 / sqrt(n)) and
    the AR order used.
    """
    from statsmodels.tsa.ar_model import AutoReg, ar_select_order

    a = np.asarray(a, dtype=float) - np.mean(a)
    b = np.asarray(b, dtype=float) - np.mean(b)
    with _quiet():
        sel = ar_select_order(a, maxlag=min(max_lag, len(a) // 4), ic="aic", trend="n")
        order = max(sel.ar_lags) if sel.ar_lags else 0
        phi = AutoReg(a, lags=order, trend="n").fit().params if order else np.array([])

    def whiten(x: np.ndarray) -> np.ndarray:
        out = x[order:].copy()
        for i, c in enumerate(phi, start=1):
            out -= c * x[order - i:len(x) - i]
        return out

    ea, eb = whiten(a), whiten(b)
    n = len(ea)
    lags = list(range(-max_lag, max_lag + 1))
    ccf = []
    for k in lags:
        x, y = (ea[:n - k], eb[k:]) if k >= 0 else (ea[-k:], eb[:n + k])
        ccf.append(float(np.corrcoef(x, y)[0, 1]) if len(x) > 2 and np.std(x) > 0 and np.std(y) > 0 else 0.0)
    return {"lags": lags, "ccf": ccf, "band": 1.96 / np.sqrt(n), "ar_order": order}


def _wald(res, cause: int, effect: int, p: int) -> float:
    """p-value of the Wald test that lags 1..p of ``cause`` are zero in ``effect``'s equation.

    Read as F(p, residual degrees of freedom), the small-sample form: the chi-squared form rejects
    too often at a few hundred weeks (5.5 % instead of 5 % on independent random walks).
    """
    from scipy import stats

    k = res.neqs
    z = res.endog_lagged  # const, then L1.y1, L1.y2, L2.y1, ...
    cov = res.sigma_u[effect, effect] * np.linalg.inv(z.T @ z)
    idx = [1 + (lag - 1) * k + cause for lag in range(1, p + 1)]
    beta = res.params[idx, effect]
    v = cov[np.ix_(idx, idx)]
    stat = float(beta @ np.linalg.solve(v, beta))
    df_resid = z.shape[0] - z.shape[1]
    return float(stats.f.sf(stat / p, p, df_resid))


@dataclass
class Fit:
    p: int
    d_max: int
    p_ab: float  # A -> B (A's lags in B's equation)
    p_ba: float
    var: object  # the fitted VAR(p + d_max)


def toda_yamamoto(a: np.ndarray, b: np.ndarray, max_lag: int = MAX_LAG) -> Fit:
    """Toda-Yamamoto Granger tests in both directions (see the module's docstring)."""
    from statsmodels.tsa.api import VAR

    y = np.column_stack([a, b]).astype(float)
    d_max = max(integration_order(a), integration_order(b))
    with _quiet():
        # HQIC, not AIC: AIC picks extra lags when a sample happens to have spurious cross-lag
        # structure, and the Wald test on those lags then finds it (6.6 % of independent stationary
        # pairs rejected at 5 %; HQIC 4.6 %, tests/test_leadlag.py).
        p = int(VAR(y).select_order(maxlags=max_lag, trend="c").hqic) or 1
        res = VAR(y).fit(p + d_max, trend="c")
    return Fit(p, d_max, _wald(res, 0, 1, p), _wald(res, 1, 0, p), res)


def _ma_rep(coefs: np.ndarray, periods: int) -> np.ndarray:
    """MA matrices Phi_0..Phi_periods of VARs (..., lags, k, k) -> (..., periods + 1, k, k), by the
    recursion statsmodels' ``ma_rep`` uses (Phi_i = sum_j Phi_(i-j) A_j), over a batch at once."""
    *batch, lags, k, _ = coefs.shape
    phis = np.zeros((*batch, periods + 1, k, k))
    phis[..., 0, :, :] = np.eye(k)
    for i in range(1, periods + 1):
        for j in range(1, min(i, lags) + 1):
            phis[..., i, :, :] += phis[..., i - j, :, :] @ coefs[..., j - 1, :, :]
    return phis


def _var_coefs(sims: np.ndarray, lags: int) -> np.ndarray:
    """Least-squares VAR(lags) with a constant fitted to each series of ``sims`` (reps, T, k), as
    statsmodels' ``VAR.fit(lags, trend="c")`` fits one: its lag matrices (reps, lags, k, k).

    The pseudo-inverse gives lstsq's minimum-norm solution, so a draw whose regressors are
    collinear still gets coefficients (statsmodels' loop dropped such draws; none occur in practice).
    """
    reps, t, k = sims.shape
    z = np.concatenate([np.ones((reps, t - lags, 1))]
                       + [sims[:, lags - i - 1:t - i - 1, :] for i in range(lags)], axis=2)
    beta = np.linalg.pinv(z) @ sims[:, lags:, :]  # (reps, 1 + k * lags, k): const, L1.y, L2.y, ...
    return beta[:, 1:, :].reshape(reps, lags, k, k).transpose(0, 1, 3, 2)


def impulse_responses(fit: Fit, periods: int = MAX_LAG, reps: int = 200, seed: int = 0) -> dict:
    """Responses of B to a one-standard-deviation shock in A's equation and of A to one in B's
    (non-orthogonalised, so no ordering is assumed), with 95 % residual-bootstrap bands: the VAR's
    residuals are resampled, series rebuilt from its coefficients, and the VAR refitted.

    All draws are rebuilt and refitted at once (arrays over draws): a loop refitting statsmodels'
    VAR 200 times per topic made the dashboard's Lead & lag page take 5 s of its first 7.
    """
    res = fit.var
    lags = res.k_ar
    sd = np.sqrt(np.diag(res.sigma_u))

    def responses(coefs: np.ndarray) -> np.ndarray:  # (..., periods + 1, 2): B to A, A to B
        irf = _ma_rep(coefs, periods)
        return np.stack([irf[..., 1, 0] * sd[0], irf[..., 0, 1] * sd[1]], axis=-1)

    point = responses(res.coefs)
    y = np.asarray(res.endog, dtype=float)
    resid = np.asarray(res.resid, dtype=float)
    coefs, const = res.coefs, np.asarray(res.params)[0]
    if reps > 0:
        e = resid[np.random.default_rng(seed).integers(0, len(resid), (reps, len(resid)))]
        sim = np.broadcast_to(y, (reps, *y.shape)).copy()
        for t in range(lags, len(y)):
            sim[:, t] = const + sum(sim[:, t - 1 - i] @ coefs[i].T for i in range(lags)) + e[:, t - lags]
        draws = responses(_var_coefs(sim, lags))
        lo, hi = np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)
    else:
        lo, hi = point, point
    out = {"periods": list(range(periods + 1))}
    for j, key in enumerate(("a_to_b", "b_to_a")):
        out[key] = {"response": point[:, j].round(6).tolist(), "low": lo[:, j].round(6).tolist(),
                    "high": hi[:, j].round(6).tolist()}
    return out


def analyse(a: np.ndarray, b: np.ndarray, *, irf_reps: int = 200) -> dict:
    """Every statistic of one pair of series (before the adjustment over topics and directions)."""
    fit = toda_yamamoto(a, b)
    out = {"weeks": len(a), "ccf": prewhitened_ccf(a, b), "var_lags": fit.p, "d_max": fit.d_max,
           "p_a_precedes_b": fit.p_ab, "p_b_precedes_a": fit.p_ba}
    if irf_reps:
        out["irf"] = impulse_responses(fit, reps=irf_reps)
    return out


def bh_adjust(pvalues: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (statsmodels' multipletests)."""
    from statsmodels.stats.multitest import multipletests

    if not pvalues:
        return []
    return [float(p) for p in multipletests(pvalues, alpha=ALPHA, method="fdr_bh")[1]]


def lead_lag(ccf: dict, sign: int) -> tuple[int, float]:
    """The lag (1..8) at which the prewhitened cross-correlation peaks in absolute value, in the
    direction ``sign`` (+1: A leads, -1: B leads), and its value."""
    pairs = [(abs(k), c) for k, c in zip(ccf["lags"], ccf["ccf"]) if k * sign > 0]
    k, c = max(pairs, key=lambda kc: abs(kc[1]))
    return k, c


def verdicts(results: list[dict], name_a: str, name_b: str) -> list[dict]:
    """Adjust every result's two p-values together (BH over topics and directions) and word the verdict."""
    tested = [r for r in results if "p_a_precedes_b" in r]
    adjusted = bh_adjust([p for r in tested for p in (r["p_a_precedes_b"], r["p_b_precedes_a"])])
    for i, r in enumerate(tested):
        r["p_adj_a_precedes_b"], r["p_adj_b_precedes_a"] = adjusted[2 * i], adjusted[2 * i + 1]
        ab, ba = r["p_adj_a_precedes_b"] < ALPHA, r["p_adj_b_precedes_a"] < ALPHA
        peak = max(zip(r["ccf"]["lags"], r["ccf"]["ccf"]), key=lambda kc: abs(kc[1]))
        r["ccf_peak"] = {"lag": peak[0], "ccf": round(peak[1], 4)}
        one_way = (+1 if ab else -1) if ab != ba else 0
        if one_way:
            first, second = (name_a, name_b) if one_way > 0 else (name_b, name_a)
            lag, value = lead_lag(r["ccf"], one_way)
            # The lag is read from the cross-correlation: a lead is reported when the strongest
            # correlation of all lags is on the leading side and stands out of its band; otherwise
            # the test's lead has no lag to name (the peak is at lag 0, or on the other side).
            if r["ccf_peak"]["lag"] * one_way > 0 and abs(value) > r["ccf"]["band"]:
                r["lag"], r["direction"] = lag, "a" if one_way > 0 else "b"
                r["verdict"] = f"{first} precedes {second}, lag {lag}"
            else:
                r["lag"], r["direction"] = None, "unclear"
                r["verdict"] = (f"no clear lead: the Granger test puts {first} first, but no lag of the "
                                "cross-correlation stands out")
        elif ab and ba:
            r["lag"], r["direction"] = None, "both"
            r["verdict"] = f"{name_a} and {name_b} each precede the other (feedback)"
        else:
            r["lag"], r["direction"] = None, "none"
            r["verdict"] = f"no lead either way between {name_a} and {name_b}"
    return results


def paired_series(conn: sqlite3.Connection, topic: str, source_a: str, source_b: str, audit=None
                  ) -> tuple[pd.DataFrame, str]:
    """week, a, b: the topic's weekly shares of the two sources over the weeks both speak; the measure."""
    frames, measures = [], []
    for name, source in (("a", source_a), ("b", source_b)):
        found = [s for s in events.weekly_series(conn, source, audit, topics=[topic]) if s.topic == topic]
        if not found:
            return pd.DataFrame(columns=["week", "a", "b"]), "raw"
        frames.append(found[0].frame[["week", "share"]].rename(columns={"share": name}))
        measures.append(found[0].measure)
    both = frames[0].merge(frames[1], on="week", how="inner").sort_values("week").reset_index(drop=True)
    return both, "corrected" if all(m == "corrected" for m in measures) else "raw"


def run(conn: sqlite3.Connection, audit=None, *, topics: Iterable[str] = (), source_a: str = DEFAULT_SOURCES[0],
        source_b: str = DEFAULT_SOURCES[1], irf_reps: int = 200, first: dt.date | None = None,
        last: dt.date | None = None) -> dict:
    """Lead and lag of every topic (or ``topics``) between two sources, with verdicts; ``first`` and
    ``last`` keep the weeks that hold a day of that range."""
    from pipeline.store import topic_bits

    names = [t for t in topic_bits(conn) if not topics or t in topics]
    results = []
    for topic in names:
        pair, measure = paired_series(conn, topic, source_a, source_b, audit)
        if first is not None:
            pair = pair[pair["week"] >= first - dt.timedelta(days=first.weekday())].reset_index(drop=True)
        if last is not None:
            pair = pair[pair["week"] <= last].reset_index(drop=True)
        r: dict = {"topic": topic, "measure": measure, "weeks": len(pair)}
        if len(pair) < MIN_WEEKS:
            r["verdict"] = f"not tested: {len(pair)} weeks in which both sources speak (at least {MIN_WEEKS})"
        elif np.ptp(pair["a"]) == 0 or np.ptp(pair["b"]) == 0:
            r["verdict"] = "not tested: a source's share never changes"
        else:
            r.update(analyse(pair["a"].to_numpy(), pair["b"].to_numpy(), irf_reps=irf_reps))
            r["first_week"], r["last_week"] = pair["week"].iat[0].isoformat(), pair["week"].iat[-1].isoformat()
        results.append(r)
    return {"source_a": source_a, "source_b": source_b, "max_lag": MAX_LAG, "alpha": ALPHA, "caveat": CAVEAT,
            "topics": verdicts(results, source_a, source_b)}
