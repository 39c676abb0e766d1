"""Figure builders: pure functions from tidy DataFrames to Plotly figures (no Streamlit here)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from pipeline import cooccurrence as co
from pipeline.colours import PALETTE, colour
from pipeline.display import counted
from pipeline.queries import rolling_bounds
from pipeline.report import history_bars

THIN = "thin period"


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def _gaps(values: pd.Series, total: pd.Series, rolling: int = 1) -> list:
    """Plot values: periods without statements are gaps (None); a rolling mean skips them."""
    y = values.astype(float).where(total > 0)
    if rolling > 1:
        y = y.rolling(rolling, min_periods=1).mean().where(total > 0)
    return y.astype(object).where(y.notna(), None).tolist()


def _band(periods: list, low: pd.Series, high: pd.Series, total: pd.Series) -> tuple[list, list]:
    """The interval band as closed outlines, one per run of periods with statements (None between
    runs): a fill between two lines would bridge the gaps where nothing was said."""
    xs: list = []
    ys: list = []
    run: list = []
    for p, lo, hi, n in [*zip(periods, low, high, total), (None, None, None, 0)]:
        if n > 0 and pd.notna(lo) and pd.notna(hi):
            run.append((p, float(lo), float(hi)))
            continue
        if run:
            xs += [r[0] for r in run] + [r[0] for r in reversed(run)] + [None]
            ys += [r[2] for r in run] + [r[1] for r in reversed(run)] + [None]
            run = []
    return xs, ys


def trend_figure(df: pd.DataFrame, *, measure: str = "count", rolling: int = 1, stacked: bool = False,
                 min_total: int = 0, title: str = "", drift: dict | None = None,
                 warned: set[str] | frozenset = frozenset(), palette: list[str] | None = None) -> go.Figure:
    """Topic frequency over time. ``df``: period, topic, count, total, share (queries.trend), plus
    share_corrected, ci_low and ci_high for measure 'corrected' (queries.corrected_trend).

    measure 'count' plots statements per period, 'share' the fraction of all statements in
    the period, 'corrected' that share corrected for the tagger's errors: a line, its 95 % interval
    as a shaded band and the raw share as a thin dotted line. Under a rolling mean the band is the
    mean's interval, drawn only when ``df`` has its columns (``queries.rolling_bounds``): a mean of
    the periods' bounds is no interval of their mean. Periods whose denominator is below
    ``min_total`` are drawn as hollow markers and named 'thin period' in the hover text.
    ``drift``: {period: reason} of periods in a source-quarter that no longer looks like the audit
    sample, hatched; ``warned``: topics whose correction the audit warns about (said on hover).
    ``palette``: every topic of the store, which the colours are keyed on (default: those in
    ``df``), so that a topic keeps its colour whichever topics the filter shows. Stacking applies
    to counts and shares only.
    """
    corrected = measure == "corrected"
    stacked = stacked and not corrected
    fig = go.Figure()
    topics = sorted(df["topic"].unique()) if len(df) else []
    for t in topics:
        d = df[df["topic"] == t].sort_values("period")
        col = colour(palette or topics, t)
        # A period with no statement at all is a gap in the record (no conference), not a zero.
        y = _gaps(d["share_corrected" if corrected else measure], d["total"], rolling)
        thin = (d["total"] < min_total) & (d["total"] > 0)
        hover = [f"{THIN}: only {counted(tot, 'statement')}" if th else "" for tot, th in zip(d["total"], thin)]
        periods = d["period"].tolist()
        # Under a rolling mean the point is the mean, not the period's own number: the hover gives
        # both, each named (it gave only the period's, which the point did not show).
        mean = "" if rolling == 1 else \
            f"<br>{rolling}-period mean: %{{y:{'.1f' if measure == 'count' else '.1%'}}}<br>this period: "
        common = dict(
            x=periods, y=y, name=t, legendgroup=t,
            customdata=list(zip([t] * len(d), d["count"], d["total"], d["share"].fillna(0), hover,
                                d["period"].astype(str))),
            hovertemplate=("<b>%{customdata[0]}</b> %{x|%Y-%m-%d}" + (mean or "<br>") + "%{customdata[1]} of "
                           "%{customdata[2]} statements (%{customdata[3]:.1%})<br>%{customdata[4]}<extra></extra>"),
            marker=dict(color=col),
        )
        if stacked:
            fig.add_trace(go.Bar(**common))
            continue
        symbols = ["circle-open" if th else "circle" for th in thin]
        if not corrected:
            if "share_corrected" in d and rolling == 1:
                # Counts and shares are as tagged; where the audit gives it, the hover adds the
                # period's corrected share and its interval (how sure the tagged number is).
                sure = [f"<br>corrected share {v:.1%} (95 %: {lo:.1%}–{hi:.1%})" if v == v and lo == lo else ""
                        for v, lo, hi in zip(d["share_corrected"], d["ci_low"], d["ci_high"])]
                common["customdata"] = [c + (x,) for c, x in zip(common["customdata"], sure)]
                common["hovertemplate"] = common["hovertemplate"].replace("<br>%{customdata[4]}",
                                                                            "%{customdata[6]}<br>%{customdata[4]}")
            fig.add_trace(go.Scatter(mode="lines+markers", line=dict(color=col, width=2), marker_symbol=symbols,
                                     **common))
            continue
        low, high = ("ci_low", "ci_high") if rolling == 1 else rolling_bounds(rolling)
        if low in d and high in d:
            bx, by = _band(periods, d[low], d[high], d["total"])
            fig.add_trace(go.Scatter(x=bx, y=by, mode="lines", line=dict(width=0), fill="toself",
                                     fillcolor=_rgba(col, 0.18), legendgroup=t, showlegend=False, hoverinfo="skip",
                                     name=f"{t}: 95 % interval"))
        fig.add_trace(go.Scatter(mode="lines", x=periods, y=_gaps(d["share"], d["total"], rolling),
                                 name=f"{t}: raw share", legendgroup=t, showlegend=False,
                                 line=dict(color=col, width=1, dash="dot"), customdata=common["customdata"],
                                 hovertemplate=("<b>%{customdata[0]}</b> %{x|%Y-%m-%d}<br>raw share %{y:.1%} "
                                                "(%{customdata[1]} of %{customdata[2]} statements tagged)"
                                                "<extra></extra>")))
        note = "<br>⚠ few audit positives or weak separation: see the warning above" if t in warned else ""
        bounds = ("<br>95 % interval %{customdata[6]:.1%} – %{customdata[7]:.1%}" if low in d and high in d
                  else "")
        common["customdata"] = [c + (lo, hi) for c, lo, hi in zip(
            common["customdata"], d.get(low, d["ci_low"]).fillna(0), d.get(high, d["ci_high"]).fillna(0))]
        shown = "corrected share %{y:.1%}" if rolling == 1 else f"corrected share, {rolling}-period mean %{{y:.1%}}"
        common["hovertemplate"] = ("<b>%{customdata[0]}</b> %{x|%Y-%m-%d}<br>" + shown + bounds +
                                   ("<br>raw share " if rolling == 1 else "<br>this period: raw share ") +
                                   "%{customdata[3]:.1%} (%{customdata[1]} of %{customdata[2]} "
                                   "statements tagged)<br>%{customdata[4]}" + note + "<extra></extra>")
        fig.add_trace(go.Scatter(mode="lines+markers", line=dict(color=col, width=2.5), marker_symbol=symbols,
                                 **common))
    if drift:
        _add_drift(fig, df, drift, measure, rolling)
    ylab = {"share": "share of statements", "corrected": "share of statements, corrected"}.get(measure, "statements")
    if stacked:
        # A statement can carry several topics: stacked heights add up topic shares (or counts), not
        # statements, and may pass 100 %.
        ylab = {"share": "topic shares, stacked", "count": "topic counts, stacked"}.get(measure, ylab)
    if rolling > 1:
        ylab += f" ({rolling}-period rolling mean)"
    fig.update_layout(title=title or None, barmode="stack" if stacked else None, hovermode="closest", showlegend=True,
                      xaxis_title=None, yaxis_title=ylab, legend_title_text="topic",
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), clickmode="event+select")
    if measure in ("share", "corrected"):
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def rolling_column(measure: str, rolling: int) -> str:
    """The chart data's column of the plotted values under a rolling mean (``count_mean_3``)."""
    return f"{'share_corrected' if measure == 'corrected' else measure}_mean_{rolling}"


def with_rolling(df: pd.DataFrame, measure: str, rolling: int) -> pd.DataFrame:
    """``df`` with the values ``trend_figure`` plots under a rolling mean of ``rolling`` periods, per
    topic (periods without statements skipped and left empty), in the column ``rolling_column``; as
    it is when ``rolling`` is 1. The chart's CSV carries them: its rows gave only each period's own
    numbers, which the points under a rolling mean do not show."""
    if rolling <= 1 or df.empty:
        return df
    source = "share_corrected" if measure == "corrected" else measure
    out = df.sort_values(["topic", "period"]).copy()
    out[rolling_column(measure, rolling)] = pd.concat(
        [pd.Series(_gaps(d[source], d["total"], rolling), index=d.index, dtype=float)
         for _, d in out.groupby("topic", sort=False)])
    return out.sort_index()


DRIFT = "drift"
DRIFT_TEXT = "drift: new audit labels due"
_DAY_MS = 86_400_000


def _add_drift(fig: go.Figure, df: pd.DataFrame, drift: dict, measure: str, rolling: int) -> None:
    """Hatched grey columns behind the periods in ``drift`` (reached by hover on a mark at their top)."""
    periods = sorted(p for p in drift if p in set(df["period"]))
    if not periods:
        return
    cols = [c for c in ("ci_high", "share_corrected", "share") if c in df] if measure == "corrected" else [measure]
    top = float(pd.to_numeric(df[cols].stack(), errors="coerce").max() or 0) or 1.0
    steps = sorted(set(df["period"]))
    step = min(((b - a).days for a, b in zip(steps, steps[1:])), default=7)
    text = [f"{DRIFT_TEXT}<br>{drift[p]}" for p in periods]
    fig.add_trace(go.Bar(x=periods, y=[top * 1.04] * len(periods), width=[step * _DAY_MS * 0.9] * len(periods),
                         name=DRIFT_TEXT, legendgroup=DRIFT, hoverinfo="skip",
                         marker=dict(color="rgba(120,120,120,0.10)", line=dict(width=0),
                                     pattern=dict(shape="/", fgcolor="rgba(110,110,110,0.45)", size=8, solidity=0.15))))
    fig.add_trace(go.Scatter(x=periods, y=[top * 1.04] * len(periods), mode="markers", legendgroup=DRIFT,
                             showlegend=False, name=DRIFT_TEXT, hovertext=text, hoverinfo="text",
                             marker=dict(symbol="triangle-down", size=9, color="rgba(90,90,90,0.8)")))


def grouped_bar_figure(df: pd.DataFrame, group: str, *, measure: str = "share", label: str | None = None
                       ) -> go.Figure:
    """Topic by group (source or role): one bar per topic and group. ``df``: group, topic, count, total,
    share, and (when known) share_corrected, ci_low, ci_high (queries.corrected_totals). ``label``: the
    group's name for the legend's title (default ``group``, the column's name: 'lang').

    measure 'corrected' draws the corrected shares with their 95 % intervals as error bars; the
    hover of every measure gives the corrected share and its interval where ``df`` has them.
    """
    fig = go.Figure()
    groups = sorted(df[group].unique()) if len(df) else []
    has_corrected = "share_corrected" in df and df["share_corrected"].notna().any()
    for i, g in enumerate(groups):
        d = df[df[group] == g].sort_values("topic")
        corr = [d[c].astype(float).fillna(0).tolist() for c in ("share_corrected", "ci_low", "ci_high")] \
            if has_corrected else [[0.0] * len(d)] * 3
        hover = ("<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{customdata[2]} of %{customdata[3]} "
                 "statements (%{customdata[4]:.1%})")
        extra: dict = {}
        if measure == "corrected":
            hover = ("<b>%{customdata[0]}</b> · %{customdata[1]}<br>corrected share %{customdata[5]:.1%}, 95 % "
                     "interval %{customdata[6]:.1%} – %{customdata[7]:.1%}<br>raw share %{customdata[4]:.1%} "
                     "(%{customdata[2]} of %{customdata[3]} statements tagged)")
            extra["error_y"] = dict(type="data", symmetric=False, color="#444", thickness=1.2, width=4,
                                    array=[hi - c for c, hi in zip(corr[0], corr[2])],
                                    arrayminus=[c - lo for c, lo in zip(corr[0], corr[1])])
        elif has_corrected:
            hover += "<br>corrected %{customdata[5]:.1%} (95 % interval %{customdata[6]:.1%} – %{customdata[7]:.1%})"
        y = corr[0] if measure == "corrected" else d[measure].tolist()
        fig.add_trace(go.Bar(
            x=d["topic"].tolist(), y=y, name=str(g), marker_color=PALETTE[i % len(PALETTE)],
            customdata=list(zip(d["topic"], [g] * len(d), d["count"], d["total"], d["share"].fillna(0), *corr)),
            hovertemplate=hover + "<extra></extra>", **extra))
    ylab = {"share": "share of statements", "corrected": "share of statements, corrected"}.get(measure, "statements")
    fig.update_layout(barmode="group", legend_title_text=label or group, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis_title=ylab)
    if measure in ("share", "corrected"):
        fig.update_yaxes(tickformat=".0%")
    return fig


def _pct(x: float) -> str:
    """A share as a percentage: one decimal, two under 1 % (joint shares are often that small)."""
    return f"{100 * x:.1f} %" if x == 0 or abs(x) >= 0.01 else f"{100 * x:.2f} %"


COOC_THIN = "* as tagged, not corrected: too few audit statements about both"
COOC_WIDE = "outlined: corrected, but the 95 % interval is wider than the share"
WIDE_LINE = "#b2182b"


def _cooc_hover(r: dict) -> str:
    """A cell's hover: what the number is, its 95 % interval, the count as tagged, and the audit
    statements behind it (or why it is not corrected)."""
    a, b = r["topic_a"], r["topic_b"]
    head = f"<b>{a}</b>" if a == b else f"<b>{a} + {b}</b>"
    about = f"about {a}" if a == b else "about both"
    tagged = f"as tagged: {r['count']:,} of {r['total']:,} statements ({_pct(r['share'] or 0.0)})"
    if r["status"] in (co.CORRECTED, co.WIDE):
        out = (f"{head}<br>{_pct(r['share_corrected'])} of statements {about}, corrected for the tagger's errors"
               f"<br>95 % interval {_pct(r['ci_low'])} – {_pct(r['ci_high'])}<br>{tagged}"
               f"<br>{r['audit_positives']:,} audit statements {about}")
        if r["status"] == co.WIDE:
            out += "<br>the interval is wider than the share: even its size is unsure"
        return out
    if r["status"] == co.NO_AUDIT:
        return f"{head}<br>{tagged}<br>not corrected: no audit sample measures the tagger's errors"
    return (f"{head}<br>{tagged}, not corrected:<br>only {r['audit_positives']} audit statements {about} "
            f"({co.MIN_JOINT_POSITIVES} needed to measure<br>how often the tagger finds such statements), "
            "so its errors here are unknown")


def cooccurrence_figure(df: pd.DataFrame) -> go.Figure:
    """Heat map of topics that come up together (``queries.cooccurrence``): each pair's colour and
    label is the share of statements about both topics corrected for the tagger's errors, with its
    95 % interval; the diagonal (grey, a reference: each topic's own share, corrected) is labelled
    alike, so that pairs a hundredth its size keep a scale of their own. The hover says the count as
    tagged and the audit statements behind the number. A cell the audit cannot correct (``THIN``,
    ``NO_AUDIT``) has no colour and shows its share as tagged marked with *; a corrected cell whose
    interval is wider than the share (``WIDE``) is outlined."""
    topics = sorted(df["topic_a"].unique()) if len(df) else []
    cells = {(r["topic_a"], r["topic_b"]): r for r in df.astype(object).where(df.notna(), None).to_dict("records")}
    grid = {k: [[None if k in ("z", "dz") else ""] * len(topics) for _ in topics]
            for k in ("z", "dz", "text", "dtext", "hover")}
    thin: dict[str, list] = {"x": [], "y": [], "text": [], "hovertext": []}
    wide: list[tuple[int, int]] = []  # (row, column) of the cells to outline
    for i, a in enumerate(topics):
        for j, b in enumerate(topics):
            r = cells[(a, b)]
            h = grid["hover"][i][j] = _cooc_hover(r)
            if r["status"] in (co.CORRECTED, co.WIDE):
                z, text = ("dz", "dtext") if a == b else ("z", "text")
                grid[z][i][j] = 1.0 if a == b else r["share_corrected"]
                grid[text][i][j] = f"{_pct(r['share_corrected'])}<br>({_pct(r['ci_low'])} – {_pct(r['ci_high'])})"
                if r["status"] == co.WIDE:
                    wide.append((i, j))
            else:
                for k, v in (("x", b), ("y", a), ("text", f"{_pct(r['share'] or 0.0)}*"), ("hovertext", h)):
                    thin[k].append(v)
    common = dict(x=topics, y=topics, texttemplate="%{text}", hovertext=grid["hover"], hoverongaps=False,
                  hovertemplate="%{hovertext}<extra></extra>")
    fig = go.Figure(go.Heatmap(z=grid["dz"], text=grid["dtext"], colorscale=[[0, "#d9d9d9"], [1, "#d9d9d9"]],
                               showscale=False, name="the topic's own share", **common))
    pairs = [v for row in grid["z"] for v in row if v is not None]
    fig.add_trace(go.Heatmap(z=grid["z"], text=grid["text"], colorscale="Blues", zmin=0,
                             zmax=max(pairs) if pairs and max(pairs) > 0 else None, name="corrected share",
                             colorbar=dict(title=dict(text="corrected<br>share<br>about both"), tickformat=".1%"),
                             **common))
    if thin["x"]:
        fig.add_trace(go.Scatter(**thin, mode="text", name=COOC_THIN, textfont=dict(color="#555"), showlegend=False,
                                 hovertemplate="%{hovertext}<extra></extra>"))
        # Its legend entry: a text trace's would show Plotly's "Aa" beside the note; an asterisk says it.
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=COOC_THIN, hoverinfo="skip",
                                 marker=dict(symbol="asterisk-open", size=10, color="#555", line=dict(width=1.5))))
    for i, j in wide:  # an outline inside the cell (a category axis places cell k at k - 0.5 to k + 0.5)
        fig.add_shape(type="rect", x0=j - 0.46, x1=j + 0.46, y0=i - 0.44, y1=i + 0.44, xref="x", yref="y",
                      line=dict(color=WIDE_LINE, width=2, dash="dot"))
    if wide:  # the outline's legend entry (no points: the cells' hover says why they are outlined)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=COOC_WIDE, hoverinfo="skip",
                                 marker=dict(symbol="square-open", size=12, color=WIDE_LINE, line=dict(width=2))))
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), yaxis_autorange="reversed",
                      showlegend=bool(thin["x"] or wide), legend=dict(orientation="h", y=-0.15),
                      xaxis_showgrid=False, yaxis_showgrid=False)
    return fig


def weekly_top(history: pd.DataFrame) -> float:
    """The top of a brief's chart scale: a little above its highest bar or error bar (the scale two
    briefs compared side by side share)."""
    records = history.astype(object).where(history.notna(), None).to_dict("records") if len(history) else []
    bars, _ = history_bars(records)
    return 1.05 * max([b["high"] if b["high"] is not None else (b["value"] or 0.0) for b in bars] + [0.01])


def weekly_figure(history: pd.DataFrame, week: str, *, top: float | None = None) -> go.Figure:
    """A brief's weeks (week, topic, count, total and, when the brief has them, share_corrected,
    ci_low, ci_high) as grouped bars: corrected shares with their 95 % intervals as error bars, or
    shares as tagged without intervals for a brief that has none (``report.history_bars`` decides,
    for the report page's chart too). The week in focus stands on a shaded band with its label in
    bold (an outline on bars this narrow hid their colour and error bars). ``top``: the scale's top
    (default ``weekly_top``), so that two briefs side by side share one scale."""
    fig = go.Figure()
    records = history.astype(object).where(history.notna(), None).to_dict("records") if len(history) else []
    bars, corrected = history_bars(records)
    topics = sorted({b["topic"] for b in bars})
    weeks = sorted({b["week"] for b in bars})
    for t in topics:
        d = sorted((b for b in bars if b["topic"] == t), key=lambda b: b["week"])
        y = [b["value"] for b in d]
        custom = [(b["count"], b["total"], -1.0 if b["tagged"] is None else b["tagged"],
                   b["low"] if b["low"] is not None else -1.0, b["high"] if b["high"] is not None else -1.0)
                  for b in d]
        if corrected:
            error_y = dict(type="data", symmetric=False, color="#222", thickness=1,
                           array=[None if b["high"] is None or b["value"] is None else b["high"] - b["value"]
                                  for b in d],
                           arrayminus=[None if b["low"] is None or b["value"] is None else b["value"] - b["low"]
                                       for b in d])
            hover = (f"<b>{t}</b> %{{x}}<br>corrected %{{y:.1%}} (95 %: %{{customdata[3]:.1%}} to "
                     "%{customdata[4]:.1%})<br>as tagged %{customdata[2]:.1%}: %{customdata[0]} of "
                     "%{customdata[1]} statements<extra></extra>")
        else:
            error_y = None
            hover = (f"<b>{t}</b> %{{x}}<br>%{{customdata[0]}} of %{{customdata[1]}} statements "
                     "(%{y:.1%} as tagged, no interval)<extra></extra>")
        fig.add_trace(go.Bar(x=[b["week"] for b in d], y=y, name=t, marker_color=colour(topics, t), error_y=error_y,
                             customdata=custom, hovertemplate=hover))
    if week in weeks:
        # On a category axis the i-th week spans i - 0.5 to i + 0.5.
        i = weeks.index(week)
        fig.add_vrect(x0=i - 0.5, x1=i + 0.5, fillcolor="rgba(120,120,120,0.16)", line_width=0, layer="below")
    fig.update_layout(barmode="group", margin=dict(l=10, r=10, t=10, b=10), yaxis_tickformat=".0%",
                      yaxis_range=[0, top if top is not None else weekly_top(history)],
                      xaxis=dict(type="category", categoryorder="array", categoryarray=weeks, tickvals=weeks,
                                 ticktext=[f"<b>{w}</b>" if w == week else w for w in weeks]),
                      yaxis_title="corrected share (95 % interval)" if corrected else "share of statements as tagged")
    return fig


EVENT_TRACE = "events"


def drawn_values(df: pd.DataFrame, *, measure: str = "count", rolling: int = 1, stacked: bool = False
                 ) -> dict[tuple, float]:
    """{(period, topic): y} as ``trend_figure`` draws each topic's point: the rolling mean when
    ``rolling`` > 1, and stacked on the topics drawn before it (sorted) when ``stacked`` (counts and
    shares only); periods without statements are left out (gaps)."""
    column = "share_corrected" if measure == "corrected" else measure
    stacked = stacked and measure != "corrected"
    out: dict[tuple, float] = {}
    below: dict = {}
    for t in sorted(df["topic"].unique()) if len(df) and column in df else []:
        d = df[df["topic"] == t].sort_values("period")
        for period, y in zip(d["period"], _gaps(d[column], d["total"], rolling)):
            if y is None:
                continue
            base = below.get(period, 0.0) if stacked else 0.0
            out[(period, t)] = base + y
            below[period] = base + y
    return out


def event_points(df: pd.DataFrame, events: list[dict], *, measure: str = "count", rolling: int = 1,
                 stacked: bool = False) -> list[tuple]:
    """Where each spike goes on a trend figure: (period, y, event) for the events whose topic is
    charted, at the period holding the event's peak week (events of topics or periods not in
    ``df`` are left out), on its topic's point as drawn: under a rolling mean the mean, stacked
    the top of the topic's segment (the period's own value put the star off its line)."""
    if df.empty or not events:
        return []
    periods = sorted(df["period"].unique())
    drawn = drawn_values(df, measure=measure, rolling=rolling, stacked=stacked)
    out = []
    for e in events:
        peak = pd.Timestamp(e["peak_week"]).date()
        held = [p for p in periods if p <= peak]
        if not held or (held[-1], e["topic"]) not in drawn:
            continue
        out.append((held[-1], float(drawn[(held[-1], e["topic"])]), e))
    return out


def add_event_markers(fig: go.Figure, df: pd.DataFrame, events: list[dict], *, measure: str = "count") -> go.Figure:
    """Mark spikes (pipeline.events) on a trend figure: a star on the topic's line at the period that
    holds the event's peak week (``event_points``), labelled with its top terms. Clicking a marker
    selects a point whose customdata is ("event", event id)."""
    return draw_event_points(fig, event_points(df, events, measure=measure))


# Spike labels are placed for a plot area of at least this many pixels (width, height; 740 x 415 in
# a 1400 px wide window, measured in Chromium): the chart's height is fixed (TREND_HEIGHT), and a
# wider chart only moves labels further apart across.
LABEL_PLOT_PX = (600, 415)
TREND_HEIGHT = 460
LABEL_FONT_PX = 11
LABEL_CHAR_PX = 5.2  # mean width of an 11 px character, with room (measured in Chromium: 4.4-4.8)
LABEL_LINE_PX = 18  # a label's box: a line of text and its padding
STAR_PX = 14
_GAP_PX = 2


def label_box(x_px: float, y_px: float, text: str, slot: tuple[str, str, float, float]) -> tuple:
    """A label's box (left, bottom, right, top) in pixels of the plot area (y up), for a label at
    ``slot`` (x anchor, y anchor, x shift, y shift, as in a Plotly annotation) of its point."""
    xanchor, yanchor, dx, dy = slot
    width = len(text) * LABEL_CHAR_PX + 4
    left = x_px + dx - {"left": 0, "center": width / 2, "right": width}[xanchor]
    bottom = y_px + dy - {"bottom": 0, "middle": LABEL_LINE_PX / 2, "top": LABEL_LINE_PX}[yanchor]
    return (left, bottom, left + width, bottom + LABEL_LINE_PX)


def _meets(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] + _GAP_PX and b[0] < a[2] + _GAP_PX and a[1] < b[3] + _GAP_PX and b[1] < a[3] + _GAP_PX


# Where a label may go, tried in this order: above its star on the first, second and third row
# (a spike is a peak, so above it its own line is out of the way), right or left of it, then below.
_NEAR = STAR_PX / 2 + 2
_SLOTS = [("center", "bottom", 0.0, _NEAR + row * LABEL_LINE_PX) for row in range(3)] + \
         [("left", "middle", _NEAR, 0.0), ("right", "middle", -_NEAR, 0.0)] + \
         [("center", "top", 0.0, -(_NEAR + row * LABEL_LINE_PX)) for row in range(2)]


def place_labels(points: list[tuple[float, float, str]], *, plot_px: tuple[int, int] = LABEL_PLOT_PX) -> list:
    """Where each spike's label goes so that no two labels, and no label and another's star, meet.

    ``points``: (x px, y px, label) of each star in the plot area, most important first (a later
    label gives way). Each label takes the first free slot of ``_SLOTS``, kept inside the plot
    area across (shifted) and up and down; a label with no free slot is left out (None): its star
    stays, with the label on hover. Returns (x anchor, y anchor, x shift, y shift) or None per point."""
    width, height = plot_px
    taken = [(x - STAR_PX / 2, y - STAR_PX / 2, x + STAR_PX / 2, y + STAR_PX / 2) for x, y, _ in points]
    out: list = []
    for x, y, text in points:
        chosen = None
        for xanchor, yanchor, dx, dy in _SLOTS:
            box = label_box(x, y, text, (xanchor, yanchor, dx, dy))
            if xanchor == "center":  # kept inside the plot area across
                fit = max(0.0, -box[0]) - max(0.0, box[2] - width)
                box, dx = (box[0] + fit, box[1], box[2] + fit, box[3]), dx + fit
            if box[0] < 0 or box[2] > width or box[1] < 0 or box[3] > height or any(_meets(box, t) for t in taken):
                continue
            chosen = (xanchor, yanchor, dx, dy)
            taken.append(box)
            break
        out.append(chosen)
    return out


def _data_ranges(fig: go.Figure) -> tuple[list, list] | None:
    """The x range (dates) and y range the figure shows, padded, starting at zero: fixed on the
    figure so that labels placed in pixels stay where they were placed."""
    lows, highs, tops = [], [], []
    stacks: pd.Series | None = None
    for t in fig.data:
        if t.x is None or t.y is None:
            continue
        x = pd.to_datetime(pd.Series(list(t.x)), errors="coerce")
        y = pd.to_numeric(pd.Series(list(t.y)), errors="coerce")
        lows.append(x.min())
        highs.append(x.max())
        tops += [y.min(), y.max()]
        if fig.layout.barmode == "stack" and t.type == "bar":  # the stack's height, not a bar's
            part = y.fillna(0).groupby(x).sum()
            stacks = part if stacks is None else stacks.add(part, fill_value=0)
    if stacks is not None:
        tops.append(stacks.max())
    lows, highs, tops = [v for v in lows if pd.notna(v)], [v for v in highs if pd.notna(v)], \
        [float(v) for v in tops if pd.notna(v)]
    if not lows or not tops:
        return None
    x0, x1 = min(lows), max(highs)
    pad = max((x1 - x0) * 0.02, pd.Timedelta(days=3))
    lo, hi = min(0.0, min(tops)), max(tops) or 1.0
    # Room above the highest star for two rows of labels.
    return [x0 - pad, x1 + pad], [lo, hi + (hi - lo) * 0.14]


def spike_labels(fig: go.Figure, placed: list[tuple]) -> list[dict]:
    """The spikes' labels as layout annotations that do not meet (``place_labels``), the largest
    spikes (by z) placed first; fixes the figure's axis ranges and height they were placed for."""
    ranges = _data_ranges(fig)
    if not ranges or not placed:
        return []
    (x0, x1), (y0, y1) = ranges
    width, height = LABEL_PLOT_PX
    span = (x1 - x0).value
    order = sorted(range(len(placed)), key=lambda i: (-float(placed[i][2].get("z") or 0), -placed[i][1]))
    points = [((pd.Timestamp(placed[i][0]) - x0).value / span * width, (placed[i][1] - y0) / (y1 - y0) * height,
               _label(placed[i][2])) for i in order]
    slots = place_labels(points)
    fig.update_layout(height=TREND_HEIGHT, xaxis_range=[x0, x1], yaxis_range=[y0, y1])
    notes = []
    for i, slot in zip(order, slots):
        if slot is None:
            continue
        period, y, e = placed[i]
        xanchor, yanchor, dx, dy = slot
        notes.append(dict(x=period, y=y, xref="x", yref="y", text=_label(e), showarrow=False, xanchor=xanchor,
                          yanchor=yanchor, xshift=dx, yshift=dy, name=f"spike {e['id']}",
                          font=dict(size=LABEL_FONT_PX, color="#333"), bgcolor="rgba(255,255,255,0.8)",
                          borderpad=1, hovertext=_hover(e)))
    return notes


def unlabelled(fig: go.Figure, placed: list[tuple]) -> list[dict]:
    """The spikes on ``fig`` whose label was left out for want of room (in the order of ``placed``)."""
    named = {a.name for a in fig.layout.annotations}
    return [e for _, _, e in placed if f"spike {e['id']}" not in named]


def _label(e: dict) -> str:
    return e.get("label") or e["topic"]


def _hover(e: dict) -> str:
    return (f"<b>{e['topic']}</b> spike · {e['source']}<br>{e['start']} to {e['end']}, z {e['z']:.1f}"
            f"<br>{e.get('label', '')}")


def draw_event_points(fig: go.Figure, placed: list[tuple]) -> go.Figure:
    """The stars of ``event_points``' (period, y, event) on the figure (``add_event_markers``),
    with their labels (``spike_labels``)."""
    if not placed:
        return fig
    # Out of the legend: the legend lists topics (the stars explain themselves on hover). The
    # labels are annotations on a light box: they sit on the topics' lines.
    fig.add_trace(go.Scatter(x=[p for p, _, _ in placed], y=[y for _, y, _ in placed], mode="markers",
                             name=EVENT_TRACE, text=[_label(e) for _, _, e in placed], showlegend=False,
                             customdata=[["event", e["id"]] for _, _, e in placed],
                             hovertext=[_hover(e) for _, _, e in placed], hovertemplate="%{hovertext}<extra></extra>",
                             marker=dict(symbol="star", size=STAR_PX, color="black")))
    for note in spike_labels(fig, placed):
        fig.add_annotation(**note)
    return fig


def irf_figure(irf: dict, name_a: str, name_b: str) -> go.Figure:
    """Impulse responses (pipeline.leadlag.impulse_responses): how a source's weekly share moves in
    the weeks after a one-standard-deviation surprise in the other's, each with its 95 % bootstrap
    band. In points of share (the responses are in share units)."""
    fig = go.Figure()
    weeks = irf["periods"]
    for key, hue, label in (("a_to_b", "#1f77b4", f"{name_b} after a surprise in {name_a}"),
                            ("b_to_a", "#d62728", f"{name_a} after a surprise in {name_b}")):
        r = irf[key]
        pts = [100 * v for v in r["response"]]
        lo, hi = [100 * v for v in r["low"]], [100 * v for v in r["high"]]
        fig.add_trace(go.Scatter(x=weeks + weeks[::-1], y=hi + lo[::-1], mode="lines", fill="toself", fillcolor=hue,
                                 opacity=0.15, line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 name=f"{label}: 95 % band"))
        fig.add_trace(go.Scatter(x=weeks, y=pts, mode="lines+markers", name=label, line=dict(color=hue),
                                 customdata=list(zip(lo, hi)),
                                 hovertemplate=f"{label}<br>week %{{x}}: %{{y:+.2f}} points "
                                               "(95 %: %{customdata[0]:+.2f} to %{customdata[1]:+.2f})<extra></extra>"))
    fig.add_hline(y=0, line_color="#7f7f7f", line_width=1)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), yaxis_title="change in weekly share (points)",
                      xaxis_title="weeks after the surprise", legend=dict(orientation="h", y=-0.25))
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
