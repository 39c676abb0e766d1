"""Events: every spike of a topic for a source, newest first, with what it was about."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, data
from dashboard.components import cite
from dashboard.render import md_text
from pipeline import events, provenance, queries

f = st.session_state["filters"]
st.title("Events")
found, measure = analysis.all_events(data.version(), data.audit_key())
shown = analysis.filtered(found, f)
st.caption(f"A week is a spike when a topic's {measure} weekly share for a source is {events.Z_THRESHOLD:g} robust "
           f"standard deviations above the previous {events.BASELINE_WEEKS} weeks (logit scale) and the topic has "
           f"at least {events.MIN_COUNT} statements; adjacent weeks make one event. Filtered by the sidebar's "
           "topics, sources and dates (the other filters do not apply: events are found on all statements).")
if not shown:
    st.info(f"No event matches these filters ({len(found)} in the store).")
    st.stop()
st.write(f"{len(shown)} {'event' if len(shown) == 1 else 'events'}, newest first")
# Events follow only the topics, sources and dates: the citation names only those.
cite(provenance.events_what(measure),
     queries.Filters(date_from=f.date_from, date_to=f.date_to, sources=f.sources, topics=f.topics),
     data.audit_key() if measure == "corrected" else None)
for e in shown:
    # The header says how big the spike is, so the list can be scanned without opening each one.
    with st.expander(analysis.event_heading(e)):
        analysis.show_event(e)
st.caption(md_text("Terms: weighted log-odds with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), "
                   "event statements against the 26 weeks before, per language; top 15 with z >= 1.96 whose "
                   "excess stays significant over all the event's words (exact binomial test, Benjamini-Hochberg "
                   "at 5 %). An event whose words differ from the weeks before by chance alone lists none."))
