"""Statements: read what was said under the current filters (and the full-text search)."""

from __future__ import annotations

import streamlit as st

from dashboard.components import statements_list

f = st.session_state["filters"]
st.title("Statements")
st.caption(("Statements that pass the sidebar filters and carry at least one of the selected topics, newest first. "
            if f.topics else "Every statement that passes the sidebar filters, tagged or not (no topic is "
            "selected), newest first. ") + "Use the sidebar's search box to find words or phrases.")
statements_list(f, None, key="explore")
