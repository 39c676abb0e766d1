"""Entry point: `streamlit run dashboard/app.py`. Shared filters in the sidebar, pages below."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the project importable without installing it.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard import data, state  # noqa: E402
from dashboard.components import empty_store  # noqa: E402
from dashboard.render import md_text  # noqa: E402
from pipeline.errors import StoreError  # noqa: E402

# Also when started with a bare `streamlit run` from another folder (python -m dashboard passes
# these, and more, on its command line): errors reach the browser as a generic message, their
# details only the server's log; no developer toolbar or Deploy button.
st.set_option("client.showErrorDetails", "none")
st.set_option("client.toolbarMode", "viewer")
st.set_page_config(page_title="Topic tracker", layout="wide")
# Yellow: the tagger's evidence; blue: the words searched for.
st.markdown("<style>.stmt{font-size:1.02em;line-height:1.5} mark{background:#ffe58a} "
            "mark.hit{background:#bfe3ff}</style>", unsafe_allow_html=True)

TRENDS = str(ROOT / "dashboard/views/trends.py")
PAGES = [
    # The default page is served at "/" whatever its url_path; the hidden page serves the same
    # view at /trends (the path a link to "Trends" may carry), which would otherwise be "Page not found".
    st.Page(TRENDS, title="Trends", url_path="overview", default=True),
    st.Page(TRENDS, title="Trends", url_path="trends", visibility="hidden"),
    st.Page(str(ROOT / "dashboard/views/explore.py"), title="Statements", url_path="statements"),
    st.Page(str(ROOT / "dashboard/views/compare.py"), title="Compare", url_path="compare"),
    st.Page(str(ROOT / "dashboard/views/weekly.py"), title="Weekly", url_path="weekly"),
    st.Page(str(ROOT / "dashboard/views/reliability.py"), title="Reliability", url_path="reliability"),
    st.Page(str(ROOT / "dashboard/views/status.py"), title="Store", url_path="store"),
    st.Page(str(ROOT / "dashboard/views/events.py"), title="Events", url_path="events"),
    st.Page(str(ROOT / "dashboard/views/leadlag.py"), title="Lead & lag", url_path="leadlag"),
    st.Page(str(ROOT / "dashboard/views/review.py"), title="Review queue", url_path="review"),
    st.Page(str(ROOT / "dashboard/views/versions.py"), title="Model versions", url_path="versions"),
]

# The filters stay in the sidebar (and the URL) on every page; where a page does not follow them
# all, the sidebar says so rather than leaving a filter that silently does nothing.
FILTER_NOTES = {
    "weekly": "Weekly briefs are made for the whole store: these filters do not apply here.",
    "reliability": "Reliability is measured on the audit sample: these filters do not apply here.",
    "store": "This page describes the whole store: these filters do not apply here.",
    "events": "Events follow the topics, sources and dates; the other filters do not apply here.",
    "leadlag": "Lead & lag follows the topics and dates; the other filters do not apply here.",
    "review": "The queue ranks the whole store for the topic chosen on the page: these filters do not apply here.",
    "versions": "Model versions are compared on the whole store: these filters do not apply here.",
}

try:
    ready = data.has_data()
except StoreError as exc:
    st.error(str(exc))
    st.stop()
if not ready:
    empty_store()
    st.stop()

# The page is resolved first: a URL correction reruns the script, and the rerun must open the
# same page (before st.navigation it would open the default one).
page = st.navigation(PAGES)
# The default page is served at "/": a link to it (a citation's, ``state.current_url``) has no path.
st.session_state["page_path"] = "" if page.url_path == PAGES[0].url_path else page.url_path
# An unknown page path (/status) runs the default page without a word from Streamlit.
lost = state.page_notice(st.context.url, [p.url_path for p in PAGES if p.url_path != "trends"], page.title,
                         st.get_option("server.baseUrlPath"), hidden=("trends",))
if lost:
    st.warning(md_text(lost))
facets = data.facets(data.version())
for notice in state.check_url(facets):
    st.warning(md_text(notice))  # notices quote the URL: text, never Markdown
# A page reopened in this session gets back the choices it had (Streamlit drops them on leaving).
state.keep_choices(page.url_path, st.session_state.get("_last_page") not in (None, page.url_path))
st.session_state["_last_page"] = page.url_path
note = FILTER_NOTES.get(page.url_path)
if note:
    st.sidebar.caption(note)
st.session_state["filters"] = state.sidebar_filters(facets)
page.run()
