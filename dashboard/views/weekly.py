"""Weekly: read a week's frozen brief, compare two weeks, download the snapshot's files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import analysis, data, state
from dashboard.components import cite
from dashboard.figures import weekly_figure, weekly_top
from dashboard.render import highlight, md_link, md_text, readable
from pipeline import provenance, queries, settings, snapshot, store
from pipeline.display import counted, signed
from pipeline.report import changes_note, chart_note, corrected_points, points

st.title("Weekly briefs")
conn = data.connect()
try:
    weeks = sorted({snapshot.week_label(m) for m in snapshot.completed_weeks_all(conn)}, reverse=True)
    own_id = store.read_store_id(conn)  # briefs of another store in the folder are not this store's
finally:
    conn.close()
if not weeks:
    st.info("No week with statements yet.")
    st.stop()
snap_dir = settings.snapshots_dir(data.store_dir())
store_version = data.version()  # one read per render: every cached call below is keyed on it
facets = data.facets(store_version)
audit_key = data.audit_key()


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def brief(version: tuple, week: str, folder: str, store_id: str | None, audit: tuple | None) -> tuple[dict, bool]:
    """The frozen summary when this store's snapshot exists, else the numbers computed now, with
    corrected shares and their intervals as a frozen brief has them when there is an audit sample."""
    frozen = snapshot.read_brief(Path(folder), week, store_id)
    if frozen is not None:
        return frozen, True
    au = data.audit_sample(audit) if audit else None
    c = data.connect()
    try:
        extras = snapshot.corrected_extras(c, [snapshot.parse_week(week)[0]], au) if au is not None else None
        return snapshot.compute(c, week, extras), False
    finally:
        c.close()


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def changes(version: tuple, summary: dict) -> list[str]:
    """What the store holds for a frozen brief's week now that the brief does not (milliseconds:
    the daily counts and one week's models)."""
    c = data.connect()
    try:
        return snapshot.changes_since_frozen(c, summary)
    finally:
        c.close()


def _count(change: float | None) -> str:
    """A change of count against the 8-week mean (a mean: one decimal), as report.html gives it."""
    return "—" if change is None else signed(change)


def _corrected(v: dict) -> str:
    """A brief's corrected share of a topic with its interval, or a dash where it has none."""
    if v.get("share_corrected") is None or v.get("ci_low") is None:
        return "—"
    return f"{v['share_corrected']:.1%} ({v['ci_low']:.1%}–{v['ci_high']:.1%})"


def spikes(s: dict, frozen: bool, col) -> None:
    """The brief's spikes (as its report.html lists them), each headed by its size and 95 % interval
    like on the Events page, and explained when opened."""
    found = s.get("events")
    if not frozen or found is None:
        # Live numbers, and briefs older than schema 3, hold no spikes: the Events page has them all.
        col.caption("Spikes: " + ("live numbers have none; " if not frozen else "this brief predates spikes; ")
                    + "see the Events page.")
        return
    if not found:
        col.caption("No spike this week.")
        return
    col.markdown(f"**Spikes this week** ({len(found)})")
    for e in found:
        with col.expander(md_text(analysis.event_heading(e))):
            analysis.show_event(e)


def show(week: str, col, table=None, below=None, top: float | None = None) -> None:
    """A week's brief: its heading and notes in ``col``, its table in ``table`` and its chart,
    quotes and files in ``below`` (both default ``col``), the chart's scale topped at ``top``
    (default its own). Two weeks compared put their tables one under the other at full width,
    where all their columns fit, and their charts side by side on one scale."""
    s, frozen = brief(store_version, week, str(snap_dir), own_id, audit_key)
    head, table, col = col, table or col, below or col
    head.subheader(week)
    head.caption(f"{s['start']} – {s['end']} · {counted(s['documents'], 'document', fmt=',')} · "
                 f"{counted(s['statements'], 'statement', fmt=',')} · "
                 + ("frozen snapshot made " + provenance.utc_text(s.get("made_at", "")) if frozen else
                    "live numbers: no snapshot yet (`python -m pipeline snapshot --week " + week + "`)"))
    moved = changes(store_version, s) if frozen else []
    if moved:
        # A brief is frozen on purpose: a document stored, or a re-tag by another model, after it
        # was made is not in it. Said, so that its numbers are not cited as the store's.
        head.info(f"The store has changed for this week since the brief was frozen: {'; '.join(moved)}. "
                  f"`python -m pipeline snapshot --week {week} --force` freezes a new brief (the old one is kept "
                  "beside it).")
    # A brief says whether it was partial when frozen; one frozen before briefs said so (schema < 4)
    # and live numbers get the store's dates now.
    note = s["partial_note"] if "partial_note" in s else snapshot.partial_week_note(week, facets["date_min"],
                                                                                      facets["date_max"])
    if note:
        head.warning(note)
    # Three tables, the week's numbers and its changes against each of the two weeks compared with,
    # so that every column fits the page's width (the changes in one table needed scrolling across).
    # A change of share is in points, a change of count in statements: each column says which, since
    # the two can point opposite ways when the week's total moves. The corrected change, with its
    # interval, leads; the changes as tagged follow (a brief frozen before schema 5, or numbers without
    # an audit sample, have only those: the corrected column shows dashes).
    numbers = [{"topic": t, "statements tagged": v["count"], "share as tagged": f"{v['share']:.1%}",
                "corrected share (95 % interval)": _corrected(v)} for t, v in s["topics"].items()]
    moves = [[{"topic": t, f"vs {name} (pts, corrected, 95 % interval)": corrected_points(v[key], ""),
               f"vs {name} (pts, as tagged)": points(v[key]["change_share"], ""),
               f"vs {name} (statements)": count(v[key].get("change_count"))} for t, v in s["topics"].items()]
             for key, name, count in (("previous_week", "previous week", lambda c: f"{c:+d}"),
                                      ("previous_8_weeks_mean", "8-week mean", _count))]
    if table is not head:
        table.markdown(f"**{week}**")
    table.dataframe(pd.DataFrame(numbers), hide_index=True)
    table.caption("share as tagged: statements tagged with the topic / all the week's statements; corrected: "
                  "that share corrected for the tagger's errors measured on the audit sample, with its 95 % interval"
                  + ("" if any(v.get("share_corrected") is not None for v in s["topics"].values()) else
                     f" (none here: {(s.get('correction') or {}).get('unavailable') or 'no audit sample'})") + ".")
    for rows, name in zip(moves, ("previous week", "8-week mean")):
        # Each table under its own heading, its columns headed short (the full names stay the
        # frame's, for tests and downloads): headed in full, they were wider than half a 1,024 px
        # window and two weeks compared hid the counts behind a scroll bar.
        table.markdown(f"**vs {name}**")
        table.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
            f"vs {name} (pts, corrected, 95 % interval)": st.column_config.TextColumn(
                "corrected: pts (95 %)", help=f"Change of the corrected share against the {name}, in points, "
                "with its 95 % interval"),
            f"vs {name} (pts, as tagged)": st.column_config.TextColumn(
                "as tagged: pts", help=f"Change of the share as tagged against the {name}, in points"),
            f"vs {name} (statements)": st.column_config.TextColumn(
                "as tagged: statements", help=f"Change of the count of statements tagged against the {name}")})
    table.caption(changes_note(s))
    if col is not head:
        col.markdown(f"**{week}**")
    col.plotly_chart(weekly_figure(pd.DataFrame(s["history"]), week, top=top), key=f"wk_{week}_{id(col)}")
    col.caption(chart_note(s))
    spikes(s, frozen, col)
    for t, v in s["topics"].items():
        with col.expander(f"{md_text(t)}: {counted(len(v['quotes']), 'quote')}"):
            for q in v["quotes"]:
                # Escaped HTML, not markdown: a transcript's '*' or '<script>' shows as written.
                st.markdown(f"<blockquote>{highlight(readable(q['text']), [])}</blockquote>", unsafe_allow_html=True)
                link = md_link(q.get("url"), q.get("title")) if q.get("url") or q.get("title") else ""
                who = md_text(q["speaker"] or q["source"])
                st.caption(f"{who}, {md_text(q['date'])}" + (f" · {link}" if link else ""))
    if not frozen:
        # Live numbers change with the next run: cited as the store's state, with the week's dates.
        first, last = snapshot.parse_week(week)
        cite(f"Topics of the week {week}, live numbers (no frozen brief)",
             queries.Filters(date_from=first, date_to=last), audit_key, where=col)
        return
    folder = snap_dir / week
    digest = None
    for name, mime in (("report.html", "text/html"), ("summary.json", "application/json"),
                       ("statements.csv", "text/csv")):
        path = Path(folder / name)
        if path.exists():
            body = path.read_bytes()
            if name == "summary.json":  # the citation's digest: of the very bytes offered for download
                digest = hashlib.sha256(body).hexdigest()
            col.download_button(f"Download {name}", body, file_name=f"{week}-{name}", mime=mime,
                                key=f"dl_{week}_{name}_{id(col)}")
    with col.expander("Cite this brief"):
        st.code(provenance.brief_citation(s, digest), language=None, wrap_lines=True)
        st.caption("A frozen brief never changes: the digest is the SHA-256 of its summary.json, so whoever holds "
                   "a copy can check (`sha256sum summary.json`) that it is the brief cited.")


for notice in state.check_choices({"week": (weeks, weeks[0]), "vs": (["—"] + weeks, "—")}):
    st.warning(md_text(notice))
state.follow_default("week", weeks[0])
c1, c2 = st.columns(2)
week = c1.selectbox("Week", weeks, index=0, key="week", bind="query-params")
other = c2.selectbox("Compare with", ["—"] + weeks, index=0, key="vs", bind="query-params")
if other == "—":
    show(week, st.container())
else:
    # One scale for both charts: equal heights are equal shares.
    top = max(weekly_top(pd.DataFrame(brief(store_version, w, str(snap_dir), own_id, audit_key)[0]["history"]))
              for w in (week, other))
    heads = st.columns(2)
    tables = st.container()
    left, right = st.columns(2)
    show(week, heads[0], tables, left, top)
    show(other, heads[1], tables, right, top)
