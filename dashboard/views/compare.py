"""Compare: topic by source and by speaker role; which topics come up together."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.components import statements_list
from dashboard.figures import cooccurrence_figure, grouped_bar_figure
from dashboard.render import md_text
from pipeline import queries
from pipeline.csvsafe import frame_to_csv

f = st.session_state["filters"]
st.title("Compare")
group = st.segmented_control("Compare by", ["source", "role", "lang"], default="source", key="group",
                             bind="query-params") or "source"
measure = st.segmented_control("Measure", ["share", "count"], default="share", key="compare",
                               bind="query-params") or "share"
tr = data.trend(data.version(), f, "month", group)
if tr.empty:
    st.info("No statement matches these filters.")
    st.stop()
agg = tr.groupby([group, "topic"], as_index=False)[["count"]].sum()
totals = tr.drop_duplicates(["period", group]).groupby(group)["total"].sum()
agg["total"] = agg[group].map(totals)
agg["share"] = agg["count"] / agg["total"]
st.subheader(f"Topics by {group}")
event = st.plotly_chart(grouped_bar_figure(agg, group, measure=measure), key="group_chart", on_select="rerun",
                        selection_mode="points", width="stretch")
st.download_button("Download chart data (CSV)", frame_to_csv(agg),
                   file_name=f"topics-by-{group}.csv", mime="text/csv")
points = (event.selection.points if event and event.selection else []) or []
if points:
    topic, value = points[0]["customdata"][0], points[0]["customdata"][1]
    narrowed = queries.Filters(**{**f.__dict__, {"source": "sources", "role": "roles", "lang": "langs"}[group]:
                                  (value,)})
    st.subheader(f"Statements on {md_text(topic)} · {group} = {md_text(value)}")
    statements_list(narrowed, topic, key="cmp")

st.subheader("Topics that come up together")
co = data.cooccurrence(data.version(), f)
st.plotly_chart(cooccurrence_figure(co), key="co_chart", width="stretch")
st.caption("Each cell counts statements tagged with both topics; the diagonal is each topic's total.")
