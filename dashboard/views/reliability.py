"""Reliability: how far each topic's numbers can be trusted (the audit sample), and where the
store's statements drift away from what the audit measured."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.components import corrected_audit
from dashboard.render import md_text
from pipeline import audit, correction

st.title("Reliability")
key = corrected_audit()
if key is None:
    st.stop()
sample = data.audit_sample(key)
cards = data.reliability(key)
first = next(iter(cards.values()))
st.markdown(
    f"Tagger model **{md_text(first['model_version'])}**, measured on the audit sample: "
    f"{first['audit_statements']:,} stored statements drawn at random (by source and year), each coded by two "
    f"independent coders against the codebook and never used for training. "
    f"Last audit: **{md_text(first['last_audit'])}**.")


def ci(m: dict, fmt: str = ".2f") -> str:
    # t̂, f̂ take three places: f̂ is about 0.01, which two would round to one number with no interval.
    if m["value"] is None:
        return "—"
    return f"{m['value']:{fmt}} ({m['low']:{fmt}}–{m['high']:{fmt}})" if m["low"] is not None else f"{m['value']:{fmt}}"


def num(x, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


st.subheader("Per topic")
st.dataframe(pd.DataFrame([{
    "topic": t, "precision (95 % interval)": ci(c["precision"]), "recall (95 % interval)": ci(c["recall"]),
    "F1 (95 % interval)": ci(c["f1"]), "Brier (95 % interval)": ci(c["calibration_intervals"]["brier"], ".3f"),
    "ECE (95 % interval)": ci(c["calibration_intervals"]["ece"], ".3f"),
    "t̂ (95 % interval)": ci(c["rate_intervals"]["t"], ".3f"), "f̂ (95 % interval)": ci(c["rate_intervals"]["f"], ".3f"),
    "t̂ − f̂ (95 % interval)": ci(c["rate_intervals"]["separation"], ".3f"),
    "audit positives": c["audit_positives"]} for t, c in cards.items()]), hide_index=True)
st.markdown(
    "**What the numbers mean.** *Precision*: of the statements the tagger gives the topic, the share that "
    "people gave it too; *recall*: of the statements people gave the topic, the share the tagger found; *F1* "
    "combines both. The brackets are 95 % intervals: with another random audit sample of the same size the "
    "number would most likely fall inside. *Brier* (mean squared gap between score and truth) and *ECE* (how far "
    "scores are from the observed rate of the topic at that score, over ten score bins) say how well the scores are "
    "calibrated: 0 is perfect. Their intervals come from the same resampled audit samples; the ECE's is turned "
    "about its value (basic bootstrap), because the ECE of a sample overstates the true one, and a resample's "
    "again: on synthetic audits of this size it held the true ECE in 92–94 % of them when scores were off by "
    "0.025 or more, in 86 % at 0.011, and in only 69–84 % when they were nearly calibrated (true ECE 0–0.002), "
    "the truth then lying below it: near 0, read its upper end. "
    "*t̂* and *f̂*: the mean score of statements that are / are not about the topic. The corrected share "
    "on Trends and Compare is (mean score − f̂) / (t̂ − f̂): the further apart t̂ and f̂, the surer it is; under "
    f"{correction.MIN_SEPARATION} apart, or with fewer than {correction.MIN_POSITIVES} audit positives, it is "
    "flagged.")
warned = [(t, c["warnings"]) for t, c in cards.items() if c["warnings"]]
if warned:
    st.warning("\n".join(f"- **{md_text(t)}**: " + "; ".join(md_text(w) for w in ws) for t, ws in warned))

st.subheader("t̂ and f̂ per source")
rows = []
for t, c in cards.items():
    for s, r in c["rates"].items():
        if s == correction.POOLED:
            continue
        rows.append({"topic": t, "source": s, "t̂ (95 % interval)": ci(r["intervals"]["t"], ".3f"),
                     "f̂ (95 % interval)": ci(r["intervals"]["f"], ".3f"),
                     "t̂ from": "all sources (pooled)" if r["pooled"] else "this source",
                     "audit positives": r["positives"], "audit statements": r["statements"]})
st.dataframe(pd.DataFrame(rows), hide_index=True)
st.caption(f"A source with fewer than {correction.MIN_POSITIVES} audit positives for a topic takes t̂ from the "
           "positives of all sources (pooled); its f̂ stays its own, since negatives are plenty.")

agreement = audit.coder_agreement(sample.frame)
if agreement:
    st.subheader("Coders' agreement before adjudication")
    st.dataframe(pd.DataFrame([{"round": a["round"], "language": a["language"], "statements": a["statements"],
                                # Round 2's kappas come without the coders' positives, so without an interval.
                                **{t: ci({"value": k, "low": None, **a["intervals"].get(t, {})}, ".3f")
                                   for t, k in a["kappa"].items()}} for a in agreement]), hide_index=True)
    st.caption("How far the audit's truth can be trusted: per coding round and language, Cohen's kappa of the two "
               "independent coders' yes/no for each topic, before a third coder settled their disagreements (1 is "
               "full agreement, 0 no more than chance; most statements are about no topic, so kappa, unlike the "
               "share of statements they agreed on, counts only the agreement beyond chance). In brackets, a 95 % "
               "interval (Wilson's interval of the share of statements they disagreed on, over the disagreement chance "
               "alone would give): where the frame records each coder's positives (round 1), they and the kappa "
               "give the number of disagreements. Round 2's record holds the kappas and the statements only, so its "
               "kappas have no interval: on 1,000 statements, a kappa near 1 on a topic with about 15 positives can "
               "be as low as 0.88 with no disagreement at all.")

st.subheader("Drift per source and quarter")
with st.spinner("Comparing every quarter with the audit sample (once per store version) ..."):
    drift = data.drift(data.version(), key)
topics = list(sample.topics)
table = []
for d in drift:
    # How many statements each number is over: the PSIs the quarter's, the unseen words a spread of them.
    row = {"quarter": d["quarter"], "source": d["source"],
           "statements": max((v["statements"] for v in d["topics"].values()), default=0)}
    for t in topics:
        v = d["topics"].get(t)
        row[f"PSI {t}"] = None if v is None else round(v["psi"], 3)
    row["unseen words"] = f"{100 * d['unseen_words']:.1f} % ({d.get('unseen_texts', 0):,})"
    row["unseen words (audit)"] = f"{100 * d['unseen_words_audit']:.1f} %"
    row["new audit labels due"] = bool(d["warning"])
    row["why"] = audit.drift_reason(d) or ""
    table.append(row)
flagged = sum(r["new audit labels due"] for r in table)
st.markdown(
    f"**{flagged} of {len(table)}** source-quarters differ from the audit sample. The correction assumes that "
    "statements about a topic score now as they scored in the audit. *PSI* (population stability index) compares "
    "a quarter's scores with the scores the audit predicts for it (over "
    f"{correction.PSI_WARN} flags it); *unseen words* is the share of a quarter's words that training never saw "
    f"(over {audit.UNSEEN_WARN_RATIO}× the audit sample's flags it), read on a fixed spread of up to "
    "300 of its statements (in brackets). *statements*: the quarter's statements of the source outside the "
    "labelled set, which its PSIs are over. **When new audit labels are due**: for every "
    "flagged source-quarter (draw a random sample of its statements and have two people code it), when a new "
    "source or a new period (a new administration) starts, and whenever a topic shows a warning above. A new "
    "model needs no new labels: it is measured on the same audit sample.")
if table:
    st.dataframe(pd.DataFrame(table), hide_index=True)
else:
    st.info("No scores stored yet to compare with the audit sample.")
