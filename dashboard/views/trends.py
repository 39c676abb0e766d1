"""Trends: topic frequency over time, counts, share or corrected share, with drill-down into any point."""

from __future__ import annotations

import datetime as dt
import logging

import streamlit as st

from dashboard import analysis, data
from dashboard.components import cite, corrected_audit, statements_list, topic_warnings
from dashboard.figures import trend_figure, unlabelled, with_rolling
from dashboard.render import md_text
from pipeline import audit, provenance, settings
from pipeline.csvsafe import frame_to_csv
from pipeline.display import counted
from pipeline.errors import UsageError

log = logging.getLogger(__name__)
f = st.session_state["filters"]
st.title("Topics over time")
# One row that wraps: side by side where the page is wide, on two lines where it is not (in fixed
# columns the measure's "corrected" was cut off in a 1,024 px window).
controls = st.container(horizontal=True, wrap=True, gap="medium", vertical_alignment="bottom")
granularity = controls.segmented_control("Period", ["day", "week", "month"], default="week", key="granularity",
                                         bind="query-params") or "week"
measure = controls.segmented_control("Measure", ["count", "share", "corrected"], default="count", key="measure",
                                     bind="query-params", help="share = statements on the topic / all statements "
                                     "in the period (after filters); corrected = that share corrected for the "
                                     "tagger's errors, measured on the audit sample, with its 95 % interval") or "count"
rolling = controls.number_input("Rolling mean (periods)", min_value=1, max_value=12, value=1, step=1, key="rolling",
                                bind="query-params", width=170)
corrected = measure == "corrected"
stacked = controls.toggle("Stacked", value=False, key="stacked", bind="query-params", disabled=corrected,
                          help="Share of voice: the topics stacked as bars (counts and shares only; a statement can "
                               "carry several topics, so the stack can pass 100 %)")

v = data.version()
key = corrected_audit() if corrected else None
if corrected and key is None:
    measure, corrected = "share", False  # corrected_audit() said why
if corrected:
    df = data.corrected_trend(v, f, granularity, key, int(rolling))
else:
    df = data.trend(v, f, granularity)
    quiet = data.audit_key() if int(rolling) == 1 and not stacked else None
    if quiet is not None:
        try:  # the hover's corrected share beside the tagged number, as on Compare
            df = data.corrected_trend(v, f, granularity, quiet)
        except Exception:  # noqa: BLE001 - a help for counts and shares; the log says why
            log.exception("corrected shares unavailable for the Trends hover")
try:
    min_total = settings.min_statements()
except UsageError as exc:  # the launcher refuses it; a server started otherwise says it here
    st.error(str(exc))
    st.stop()
if df.empty:
    st.info("No statement matches these filters.")
    st.stop()
flagged: dict = {}
warned: set[str] = set()
if corrected:
    shown = sorted(df["topic"].unique())
    by_source = data.trend(v, f, granularity, "source")
    # The sources the chart holds (a speaker filter may leave one): warnings name only theirs.
    charted = tuple(sorted(by_source[by_source["total"] > 0]["source"].unique()))
    warned = topic_warnings(key, shown, charted or f.sources or tuple(data.facets(v)["sources"]))
    flagged = audit.flagged_periods(by_source, data.drift(v, key), granularity, topics=shown)
fig = trend_figure(df, measure=measure, rolling=int(rolling), stacked=stacked, min_total=min_total,
                   drift=flagged, warned=warned, palette=data.facets(v)["topics"])
fig, placed, no_stars = analysis.mark_events(fig, df, f, measure, int(rolling), stacked)
event = st.plotly_chart(fig, key="trend_chart", on_select="rerun", selection_mode="points", width="stretch")
thin = df[(df["total"] < min_total) & (df["total"] > 0)]["period"].nunique()
with_data = df[df["total"] > 0]["period"].nunique()
st.caption(f"{counted(with_data, granularity)} with statements · hollow markers: periods with fewer than {min_total} "
           f"statements ({thin}), where shares are unreliable. Click a point to read its statements"
           + (", a star for its spike." if placed else ".") + (f" {no_stars}" if no_stars else "")
           + ("" if corrected else " Counts and shares are as tagged, with the tagger's errors; the measure "
              "*corrected* gives each share corrected for them with its 95 % interval"
              + (" (also in the hover)." if "share_corrected" in df and df["share_corrected"].notna().any()
                 else ".")))
crowded = unlabelled(fig, placed)
if crowded:
    # Labels that would write over others are left out, the larger spikes keep theirs: these stars
    # are named here (and on hover).
    st.caption("Stars without a label (no room beside larger spikes): " + "; ".join(
        f"{md_text(e['topic'])} {e['start']}: {md_text(e.get('label') or '')}" for e in crowded) + ".")
if corrected:
    band = ("shaded band: its 95 % interval (the audit sample's uncertainty and the period's own)" if rolling == 1
            else f"shaded band: the 95 % interval of the mean of {int(rolling)} periods, from the same bootstrap "
                 "replicates as each period's (the audit's uncertainty, which every period shares, does not "
                 "average away)")
    n = len(flagged)
    st.caption(f"Corrected: the thick line is the share corrected for the tagger's errors; {band}; the thin dotted "
               "line is the raw share (statements tagged / all statements). "
               + (f"{n} {granularity}{'s' if n != 1 else ''} fall in a source-quarter whose statements drift from "
                  "the audit sample (hatched; new audit labels are due, see Reliability)." if n else
                  "No period falls in a source-quarter that drifts from the audit sample.")
               + (" Stacked mode is off for the corrected measure: corrected shares carry intervals that "
                  "cannot be stacked." if stacked else ""))
out = with_rolling(df, measure, int(rolling))  # the plotted means beside each period's own numbers
if corrected:
    out = out.assign(drift=out["period"].map(lambda p: flagged.get(p, "")))
st.download_button("Download chart data (CSV)", frame_to_csv(out),
                   file_name=f"topics-by-{granularity}{'-corrected' if corrected else ''}.csv", mime="text/csv")
cite(provenance.trend_what(granularity, measure) + (f", mean of {int(rolling)} {granularity}s" if rolling > 1 else ""),
     f, key)

# A clicked spike star, or the topic's point it sits on, shows the spike's explanation; a topic's
# point also drills down (a drift mark or a band is no topic).
spikes, points = analysis.clicked_events((event.selection.points if event and event.selection else []) or [], placed)
for e in spikes:
    st.subheader("Spike")
    analysis.show_event(e)
if points:
    p = points[0]
    cd = p["customdata"]
    topic = cd[0]
    period = dt.date.fromisoformat(str(cd[5])[:10])
    st.subheader(f"Statements on {md_text(topic)}: {granularity} of {period.isoformat()}")
    statements_list(data.period_filters(f, period, granularity), topic, key="drill")
