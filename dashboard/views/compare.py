"""Compare: topic by source and by speaker role; which topics come up together."""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import data, state
from dashboard.components import cite, corrected_audit, statements_list, topic_warnings
from dashboard.figures import cooccurrence_figure, grouped_bar_figure
from dashboard.render import md_text
from pipeline import cooccurrence, queries
from pipeline.csvsafe import frame_to_csv

log = logging.getLogger(__name__)
f = st.session_state["filters"]
st.title("Compare")
# The options are the words shown, which a bound control also writes into the URL (group=language):
# with a format_func the URL held the label, which the URL check refused, and the page broke.
label = st.segmented_control("Compare by", list(state.GROUPS), default="source", key="group",
                             bind="query-params") or "source"
group = state.GROUPS.get(label, "source")  # the column compared
measure = st.segmented_control("Measure", ["share", "count", "corrected"], default="share", key="compare",
                               bind="query-params", help="corrected = the share corrected for the tagger's errors "
                               "(measured on the audit sample), with its 95 % interval") or "share"
v = data.version()
tr = data.trend(v, f, "month", group)
if tr.empty:
    st.info("No statement matches these filters.")
    st.stop()
key = corrected_audit() if measure == "corrected" else data.audit_key()
if key is None and measure == "corrected":
    measure = "share"  # corrected_audit() said why
agg = None
if key is not None:
    try:  # beside count and share, the corrected share is in the hover and the CSV
        agg = data.corrected_totals(v, f, group, key)
    except Exception:  # noqa: BLE001 - a help for these measures; the log says why
        log.exception("corrected shares unavailable on Compare")
if agg is None:
    agg = tr.groupby([group, "topic"], as_index=False)[["count"]].sum()
    totals = tr.drop_duplicates(["period", group]).groupby(group)["total"].sum()
    agg["total"] = agg[group].map(totals)
    agg["share"] = agg["count"] / agg["total"]
if measure == "corrected":
    topic_warnings(key, sorted(agg["topic"].unique()), f.sources or tuple(data.facets(v)["sources"]))
st.subheader(f"Topics by {label}")
event = st.plotly_chart(grouped_bar_figure(agg, group, measure=measure, label=label), key="group_chart",
                        on_select="rerun", selection_mode="points", width="stretch")
if measure == "corrected":
    st.caption("Bars: each topic's share corrected for the tagger's errors over the filtered dates, statements "
               "of each source corrected with that source's audit rates; whiskers: the 95 % interval. Hover for "
               "the raw share.")
else:
    hover = "share_corrected" in agg and agg["share_corrected"].notna().any()
    st.caption(f"Bars: statements as the tagger tagged them ({'share of each group' if measure == 'share' else 'count'}"
               "), with its errors; the measure *corrected* shows each share corrected for them with its 95 % "
               "interval" + (" (also in the hover)." if hover else "."))
st.download_button("Download chart data (CSV)", frame_to_csv(agg),
                   file_name=f"topics-by-{group}.csv", mime="text/csv")
cite(f"Statements on each topic by {label}, "
     + {"count": "number as tagged", "share": "share as tagged",
        "corrected": "share corrected for the tagger's errors"}[measure], f, key if measure == "corrected" else None)
points = (event.selection.points if event and event.selection else []) or []
if points:
    topic, value = points[0]["customdata"][0], points[0]["customdata"][1]
    narrowed = queries.Filters(**{**f.__dict__, {"source": "sources", "role": "roles", "lang": "langs"}[group]:
                                  (value,)})
    st.subheader(f"Statements on {md_text(topic)} · {label} = {md_text(value)}")
    statements_list(narrowed, topic, key="cmp")

st.subheader("Topics that come up together")
co = None
if key is not None:
    try:
        co = data.cooccurrence(v, f, key)
    except Exception:  # noqa: BLE001 - the shares as tagged still mean something; the log says why
        log.exception("corrected co-occurrence unavailable on Compare")
if co is None:
    co = data.cooccurrence(v, f, None)
st.plotly_chart(cooccurrence_figure(co), key="co_chart", width="stretch")
if co["status"].isin([cooccurrence.CORRECTED, cooccurrence.WIDE]).any():
    st.caption("Each cell: the share of statements about both topics (the diagonal: about the topic), corrected for "
               "the tagger's errors, with its 95 % interval in brackets; the colour is the corrected share. A pair is "
               "corrected with how often the audit sample's statements about both are tagged with both, and the "
               "others wrongly are; the diagonal as the bars above. **\\***: the audit sample holds fewer than "
               f"{cooccurrence.MIN_JOINT_POSITIVES} statements about both topics, too few to measure the tagger's "
               "errors on the pair, so the share is as tagged, uncorrected (the hover says how many). Outlined: the "
               "interval is wider than the share itself. The hover gives the count as tagged.")
else:
    st.caption("Each cell: the share of statements tagged with both topics (the diagonal: with the topic), as tagged, "
               "with the tagger's errors: without the audit sample nothing corrects them.")
st.download_button("Download co-occurrence data (CSV)", frame_to_csv(co), file_name="topics-together.csv",
                   mime="text/csv")
