"""Spikes and lead/lag for the dashboard: cached calls of pipeline.events and pipeline.leadlag, the
Trends chart's event markers and what a click on one shows."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.figures import draw_event_points, event_points
from dashboard.render import head, md_link, md_text, readable
from pipeline import events as events_mod
from pipeline import leadlag as leadlag_mod
from pipeline import queries
from pipeline.display import size_text


def audit(key: tuple | None):
    """The audit sample scored by the tagger (the one the corrected measure uses, ``data.audit_sample``
    of ``data.audit_key()``, so it is loaded and its rates fitted once, and anew when the model or the
    sample changes), or None: then raw shares are used."""
    if key is None:
        return None
    try:
        return data.audit_sample(key)
    except Exception:  # corrected shares are a refinement; raw shares still answer
        return None


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Finding spikes…")
def all_events(version: tuple, audit_key: tuple | None) -> tuple[list[dict], str]:
    """Every event of the store, newest first, and the measure used ('corrected' or 'raw').
    ``audit_key`` (``data.audit_key()``) is in the cache key: a retrained model or a recoded
    audit sample gives other corrected shares, hence other events."""
    a = audit(audit_key)
    conn = data.connect()
    try:
        return events_mod.find(conn, a), "corrected" if a is not None else "raw"
    finally:
        conn.close()


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Testing lead and lag…")
def lead_lag(version: tuple, audit_key: tuple | None, source_a: str, source_b: str,
             topics: tuple[str, ...] = (), first: dt.date | None = None, last: dt.date | None = None) -> dict:
    a = audit(audit_key)
    conn = data.connect()
    try:
        return leadlag_mod.run(conn, a, topics=topics, source_a=source_a, source_b=source_b, irf_reps=200,
                               first=first, last=last)
    finally:
        conn.close()


def filtered(found: list[dict], f: queries.Filters) -> list[dict]:
    """The events that match the sidebar's topics, sources and dates (an event overlapping the dates)."""
    out = []
    for e in found:
        if f.topics and e["topic"] not in f.topics:
            continue
        if f.sources and e["source"] not in f.sources:
            continue
        if f.date_from and e["end"] < f.date_from.isoformat():
            continue
        if f.date_to and e["start"] > f.date_to.isoformat():
            continue
        out.append(e)
    return out


def chart_events(found: list[dict], f: queries.Filters) -> tuple[list[dict], str | None]:
    """The events to star on the Trends chart, and why none are when a filter rules them out.

    Spikes are found per source and topic over all its statements: a chart narrowed to speakers,
    roles, languages or a search is another series, whose spikes these are not."""
    narrowed = [name for name, on in (("speaker", f.speakers), ("role", f.roles), ("language", f.langs),
                                      ("search", f.search)) if on]
    if narrowed:
        return [], (f"No spike stars with a {' / '.join(narrowed)} filter: spikes are found per source and "
                    "topic over all its statements (see Events).")
    return filtered(found, f), None


def mark_events(fig, df: pd.DataFrame, f: queries.Filters, measure: str, rolling: int = 1,
                stacked: bool = False) -> tuple:
    """Add the events' markers to the Trends figure (weekly events on any period), on their topics'
    points as drawn (``rolling``, ``stacked``); returns the figure, the events placed as
    (period, y, event), and a note when a filter rules them out."""
    found, _ = all_events(data.version(), data.audit_key())
    shown, note = chart_events(found, f)
    placed = event_points(df, shown, measure=measure, rolling=rolling, stacked=stacked)
    return draw_event_points(fig, placed), placed, note


def event_heading(e: dict) -> str:
    """An event in one line, how big it is and how sure that is (``display.size_text``), so that a list
    of them can be scanned without opening each: the Events page's and the Weekly page's headers."""
    return (f"{e['start']} · {e['topic']} · {e['source']} · {size_text(e)} · "
            f"{e.get('label') or 'no distinctive term'}")


SPIKE_TEXT_CHARS = 1200


def show_event(e: dict) -> None:
    """An event's explanation: its numbers, distinguishing terms per language and top statements."""
    ci = e.get("share_ci")
    sure = (f" (95 % interval {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%)" if ci else
            " (raw share: as tagged, with the tagger's errors)")
    st.markdown(f"**{md_text(e['topic'])}** · {md_text(e['source'])} · {e['start']} to {e['end']} · z "
                f"{e['z']:.1f} · {100 * e['share']:.1f}% of statements at the peak{sure} (usual "
                f"{100 * e['baseline_share']:.1f}%) · {e['count']:,} statements tagged with the topic (a count as "
                f"tagged) · found on the {e['measure']} share")
    for lang, terms in e["terms"].items():
        words = ", ".join(f"{t['term']} ({t['z']:.1f})" for t in terms) or "no distinctive term"
        st.markdown(f"Terms that set it apart ({md_text(lang)}): {md_text(words)}")
    for s in e["statements"]:
        link = md_link(s["url"], s["title"] or "source") if s["url"] or s["title"] else ""
        st.markdown(f"**{md_text(s['date'])}** · {md_text(s['speaker'] or 'unknown speaker')}"
                    + (f" · {link}" if link else ""))
        text = " ".join(readable(s["text"]).split())
        # A White House paragraph can run to 20,000 characters: the card shows its start.
        st.text(text if len(text) <= SPIKE_TEXT_CHARS else
                head(text, SPIKE_TEXT_CHARS) + f" … ({len(text) - SPIKE_TEXT_CHARS:,} more characters)")


def clicked_events(points: list, placed: list[tuple]) -> tuple[list[dict], list]:
    """The events a click on the Trends chart points at, and the topics' own points it selected.

    A star sits on its topic's point, and Plotly gives the click to either: a clicked star and a
    clicked point that carries a star both mean that event (customdata of a topic's point: topic,
    ..., period at index 5)."""
    chosen: dict[str, dict] = {}
    rest = []
    by_id = {e["id"]: e for _, _, e in placed}
    for p in points:
        cd = p.get("customdata") or []
        if len(cd) == 2 and cd[0] == "event":
            if cd[1] in by_id:
                chosen[cd[1]] = by_id[cd[1]]
        elif len(cd) > 5:
            rest.append(p)
            day = str(cd[5])[:10]
            for period, _, e in placed:
                if e["topic"] == cd[0] and str(period)[:10] == day:
                    chosen[e["id"]] = e
    return list(chosen.values()), rest
