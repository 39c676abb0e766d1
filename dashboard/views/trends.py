"""Trends: topic frequency over time, counts or share, with drill-down into any point."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import analysis, data
from dashboard.components import statements_list
from dashboard.figures import trend_figure
from dashboard.render import md_text
from pipeline import settings
from pipeline.csvsafe import frame_to_csv

f = st.session_state["filters"]
st.title("Topics over time")
c1, c2, c3, c4 = st.columns([1.2, 1.2, 1, 1])
granularity = c1.segmented_control("Period", ["day", "week", "month"], default="week", key="granularity",
                                   bind="query-params") or "week"
measure = c2.segmented_control("Measure", ["count", "share"], default="count", key="measure",
                               bind="query-params", help="share = statements on the topic / all statements "
                               "in the period (after filters)") or "count"
rolling = c3.number_input("Rolling mean (periods)", min_value=1, max_value=12, value=1, step=1, key="rolling",
                          bind="query-params")
stacked = c4.toggle("Stacked (share of voice)", value=False, key="stacked", bind="query-params")

df = data.trend(data.version(), f, granularity)
min_total = int(settings.get("min_statements"))
if df.empty:
    st.info("No statement matches these filters.")
    st.stop()
fig = trend_figure(df, measure=measure, rolling=int(rolling), stacked=stacked, min_total=min_total)
fig = analysis.mark_events(fig, df, f, measure)
event = st.plotly_chart(fig, key="trend_chart", on_select="rerun", selection_mode="points", width="stretch")
thin = df[(df["total"] < min_total) & (df["total"] > 0)]["period"].nunique()
with_data = df[df["total"] > 0]["period"].nunique()
st.caption(f"{with_data} {granularity}s with statements · hollow markers: periods with fewer than {min_total} "
           f"statements ({thin}), where shares are unreliable. Click a point to read its statements.")
st.download_button("Download chart data (CSV)", frame_to_csv(df),
                   file_name=f"topics-by-{granularity}.csv", mime="text/csv")

points = analysis.handle_click((event.selection.points if event and event.selection else []) or [])
if points:
    p = points[0]
    cd = p.get("customdata") or []
    topic = cd[0] if cd else None
    period = dt.date.fromisoformat(str(cd[5])[:10]) if len(cd) > 5 else dt.date.fromisoformat(str(p["x"])[:10])
    st.subheader(f"Statements on {md_text(topic)}: {granularity} of {period.isoformat()}")
    statements_list(data.period_filters(f, period, granularity), topic, key="drill")
