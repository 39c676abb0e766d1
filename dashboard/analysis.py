"""Spikes and lead/lag for the dashboard: cached calls of pipeline.events and pipeline.leadlag, the
Trends chart's event markers and what a click on one shows."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.figures import add_event_markers
from dashboard.render import md_link, md_text
from pipeline import events as events_mod
from pipeline import leadlag as leadlag_mod
from pipeline import queries, settings


@st.cache_resource(max_entries=2, show_spinner=False)
def audit(model_path: str):
    """The audit sample scored by the tagger, or None (then raw shares are used)."""
    from pipeline import audit as audit_mod

    try:
        return audit_mod.load(data.model(model_path))
    except Exception:  # corrected shares are a refinement; raw shares still answer
        return None


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Finding spikes…")
def all_events(version: tuple) -> tuple[list[dict], str]:
    """Every event of the store, newest first, and the measure used ('corrected' or 'raw')."""
    a = audit(settings.get("model"))
    conn = data.connect()
    try:
        return events_mod.find(conn, a), "corrected" if a is not None else "raw"
    finally:
        conn.close()


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Testing lead and lag…")
def lead_lag(version: tuple, source_a: str, source_b: str) -> dict:
    a = audit(settings.get("model"))
    conn = data.connect()
    try:
        return leadlag_mod.run(conn, a, source_a=source_a, source_b=source_b, irf_reps=200)
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


def mark_events(fig, df: pd.DataFrame, f: queries.Filters, measure: str):
    """Add the filtered events' markers to the Trends figure (weekly events on any period)."""
    found, _ = all_events(data.version())
    return add_event_markers(fig, df, filtered(found, f), measure=measure)


def show_event(e: dict) -> None:
    """An event's explanation: its numbers, distinguishing terms per language and top statements."""
    st.markdown(f"**{md_text(e['topic'])}** · {md_text(e['source'])} · {e['start']} to {e['end']} · z "
                f"{e['z']:.1f} · {100 * e['share']:.1f}% of statements at the peak (usual "
                f"{100 * e['baseline_share']:.1f}%) · {e['count']} statements on the topic ({e['measure']} share)")
    for lang, terms in e["terms"].items():
        words = ", ".join(f"{t['term']} ({t['z']:.1f})" for t in terms) or "no distinctive term"
        st.markdown(f"Terms that set it apart ({md_text(lang)}): {md_text(words)}")
    for s in e["statements"]:
        link = md_link(s["url"], s["title"] or "source") if s["url"] or s["title"] else ""
        st.markdown(f"**{md_text(s['date'])}** · {md_text(s['speaker'] or 'unknown speaker')}"
                    + (f" · {link}" if link else ""))
        st.text(" ".join(s["text"].split()))


def handle_click(points: list) -> list:
    """Show the explanation of a clicked event marker; return the other points (for the drill-down)."""
    rest = []
    found = None
    for p in points:
        cd = p.get("customdata") or []
        if len(cd) == 2 and cd[0] == "event":
            found = cd[1]
        else:
            rest.append(p)
    if found is not None:
        match = [e for e in all_events(data.version())[0] if e["id"] == found]
        if match:
            st.subheader("Spike")
            show_event(match[0])
    return rest
