"""Figure builders: pure functions from tidy DataFrames to Plotly figures (no Streamlit here)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
THIN = "thin period"


def colour(topics: list[str], topic: str) -> str:
    return PALETTE[sorted(topics).index(topic) % len(PALETTE)] if topic in topics else "#7f7f7f"


def trend_figure(df: pd.DataFrame, *, measure: str = "count", rolling: int = 1, stacked: bool = False,
                 min_total: int = 0, title: str = "") -> go.Figure:
    """Topic frequency over time. ``df``: period, topic, count, total, share (queries.trend).

    measure 'count' plots statements per period, 'share' the fraction of all statements in
    the period. Periods whose denominator is below ``min_total`` are drawn as hollow markers
    and named 'thin period' in the hover text.
    """
    fig = go.Figure()
    topics = sorted(df["topic"].unique()) if len(df) else []
    for t in topics:
        d = df[df["topic"] == t].sort_values("period")
        # A period with no statement at all is a gap in the record (no conference), not a zero.
        y = d[measure].astype(float).where(d["total"] > 0)
        if rolling > 1:
            y = y.rolling(rolling, min_periods=1).mean().where(d["total"] > 0)
        y = y.astype(object).where(y.notna(), None)
        thin = (d["total"] < min_total) & (d["total"] > 0)
        hover = [f"{THIN}: only {tot} statements" if th else "" for tot, th in zip(d["total"], thin)]
        common = dict(
            x=d["period"].tolist(), y=y.tolist(), name=t,
            customdata=list(zip([t] * len(d), d["count"], d["total"], d["share"].fillna(0), hover,
                                d["period"].astype(str))),
            hovertemplate=("<b>%{customdata[0]}</b> %{x|%Y-%m-%d}<br>%{customdata[1]} of %{customdata[2]} "
                           "statements (%{customdata[3]:.1%})<br>%{customdata[4]}<extra></extra>"),
            marker=dict(color=colour(topics, t)),
        )
        if stacked:
            fig.add_trace(go.Bar(**common))
        else:
            fig.add_trace(go.Scatter(mode="lines+markers", line=dict(color=colour(topics, t), width=2),
                                     marker_symbol=["circle-open" if th else "circle" for th in thin], **common))
    ylab = "share of statements" if measure == "share" else "statements"
    if rolling > 1:
        ylab += f" ({rolling}-period rolling mean)"
    fig.update_layout(title=title or None, barmode="stack" if stacked else None, hovermode="closest", showlegend=True,
                      xaxis_title=None, yaxis_title=ylab, legend_title_text="topic",
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), clickmode="event+select")
    if measure == "share":
        fig.update_yaxes(tickformat=".0%")
    return fig


def grouped_bar_figure(df: pd.DataFrame, group: str, *, measure: str = "share") -> go.Figure:
    """Topic by group (source or role): one bar per topic and group. ``df``: group, topic, count, total, share."""
    fig = go.Figure()
    groups = sorted(df[group].unique()) if len(df) else []
    for i, g in enumerate(groups):
        d = df[df[group] == g].sort_values("topic")
        fig.add_trace(go.Bar(
            x=d["topic"].tolist(), y=d[measure].tolist(), name=str(g), marker_color=PALETTE[i % len(PALETTE)],
            customdata=list(zip(d["topic"], [g] * len(d), d["count"], d["total"], d["share"].fillna(0))),
            hovertemplate="<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{customdata[2]} of %{customdata[3]} "
                          "statements (%{customdata[4]:.1%})<extra></extra>"))
    fig.update_layout(barmode="group", legend_title_text=group, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis_title="share of statements" if measure == "share" else "statements")
    if measure == "share":
        fig.update_yaxes(tickformat=".0%")
    return fig


def cooccurrence_figure(df: pd.DataFrame) -> go.Figure:
    """Heatmap of how often two topics are tagged on one statement (diagonal: the topic's total)."""
    topics = sorted(df["topic_a"].unique()) if len(df) else []
    z = [[int(df[(df.topic_a == a) & (df.topic_b == b)]["count"].sum()) for b in topics] for a in topics]
    fig = go.Figure(go.Heatmap(z=z, x=topics, y=topics, colorscale="Blues", text=z, texttemplate="%{text}",
                               hovertemplate="%{y} + %{x}: %{z} statements<extra></extra>"))
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), yaxis_autorange="reversed")
    return fig


def weekly_figure(history: pd.DataFrame, week: str) -> go.Figure:
    """A snapshot's weeks (week, topic, count, total) as grouped bars of share; the week in focus outlined."""
    fig = go.Figure()
    topics = sorted(history["topic"].unique()) if len(history) else []
    for t in topics:
        d = history[history["topic"] == t].sort_values("week")
        share = (d["count"] / d["total"].where(d["total"] > 0)).fillna(0)
        fig.add_trace(go.Bar(
            x=d["week"].tolist(), y=share.tolist(), name=t, marker_color=colour(topics, t),
            marker_line_width=[3 if w == week else 0 for w in d["week"]], marker_line_color="black",
            customdata=list(zip(d["count"], d["total"])),
            hovertemplate=f"<b>{t}</b> %{{x}}<br>%{{customdata[0]}} of %{{customdata[1]}} statements "
                          "(%{y:.1%})<extra></extra>"))
    fig.update_layout(barmode="group", margin=dict(l=10, r=10, t=10, b=10), yaxis_tickformat=".0%",
                      yaxis_title="share of statements")
    return fig


EVENT_TRACE = "events"


def add_event_markers(fig: go.Figure, df: pd.DataFrame, events: list[dict], *, measure: str = "count") -> go.Figure:
    """Mark spikes (pipeline.events) on a trend figure: a star on the topic's line at the period that
    holds the event's peak week, labelled with its top terms. ``df`` is the figure's data
    (queries.trend); events of topics or periods not in it are left out. Clicking a marker selects
    a point whose customdata is ("event", event id)."""
    if df.empty or not events:
        return fig
    periods = sorted(df["period"].unique())
    xs, ys, labels, data, hover = [], [], [], [], []
    for e in events:
        peak = pd.Timestamp(e["peak_week"]).date()
        held = [p for p in periods if p <= peak]
        if not held or e["topic"] not in set(df["topic"]):
            continue
        period = held[-1]
        row = df[(df["period"] == period) & (df["topic"] == e["topic"])]
        if row.empty or row["total"].iat[0] <= 0:
            continue
        xs.append(period)
        ys.append(float(row[measure].iat[0]))
        labels.append(e.get("label") or e["topic"])
        data.append(["event", e["id"]])
        hover.append(f"<b>{e['topic']}</b> spike · {e['source']}<br>{e['start']} to {e['end']}, z {e['z']:.1f}"
                     f"<br>{e.get('label', '')}")
    if xs:
        # Out of the legend: the legend lists topics (the stars explain themselves on hover).
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers+text", name=EVENT_TRACE, text=labels, showlegend=False,
                                 textposition="top center", customdata=data, hovertext=hover,
                                 hovertemplate="%{hovertext}<extra></extra>",
                                 marker=dict(symbol="star", size=14, color="black")))
    return fig


def ccf_figure(ccf: dict, name_a: str, name_b: str) -> go.Figure:
    """Prewhitened cross-correlation by lag (pipeline.leadlag), with its 95 % band."""
    lags, values = ccf["lags"], ccf["ccf"]
    fig = go.Figure(go.Bar(x=lags, y=values, marker_color=["#d62728" if abs(v) > ccf["band"] else "#7f7f7f"
                                                            for v in values],
                           hovertemplate="lag %{x}: %{y:.2f}<extra></extra>", name="cross-correlation"))
    for y in (ccf["band"], -ccf["band"]):
        fig.add_hline(y=y, line_dash="dash", line_color="#1f77b4")
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), showlegend=False, yaxis_title="correlation",
                      xaxis_title=f"lag in weeks (> 0: {name_a} first, < 0: {name_b} first)")
    return fig
