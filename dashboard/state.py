"""Filters shared by every page: sidebar widgets bound to the URL, validated first.

Streamlit drops a bound query parameter whose value is not an option; we check the URL
before the widgets do so that the user is told what was ignored.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from pipeline import queries

KNOWN = {"topics", "dates", "source", "lang", "role", "speaker", "q", "granularity", "measure", "rolling",
         "stacked", "page", "week", "compare", "group", "embed", "embed_options", "vs"}


def check_url(facets: dict) -> list[str]:
    """Notices for URL parameters that are unknown or hold values the store does not have."""
    notices = []
    qp = st.query_params
    options = {"topics": facets["topics"], "source": facets["sources"], "lang": facets["langs"],
               "role": facets["roles"], "granularity": ["day", "week", "month"], "measure": ["count", "share"]}
    for key in qp.keys():
        if key not in KNOWN:
            notices.append(f"Unknown URL parameter '{key}' ignored.")
            continue
        if key in options:
            bad = [v for v in qp.get_all(key) if v and v not in options[key]]
            if bad:
                notices.append(f"URL parameter '{key}': {', '.join(map(repr, bad[:3]))} not known; "
                               f"showing the default instead.")
        if key == "dates":
            for v in qp.get_all(key):
                try:
                    dt.date.fromisoformat(v)
                except ValueError:
                    notices.append(f"URL parameter 'dates': {v!r} is not a date (YYYY-MM-DD); showing all dates.")
        if key == "rolling":
            v = qp.get(key)
            if not (v or "").isdigit() or not 1 <= int(v) <= 12:
                notices.append("URL parameter 'rolling' must be a whole number from 1 to 12; using 1.")
    return notices


def _clean(key: str, allowed: list[str]) -> None:
    """Remove invalid values of a bound parameter before the widget reads them."""
    qp = st.query_params
    if key in qp:
        good = [v for v in qp.get_all(key) if v in allowed]
        if len(good) != len(qp.get_all(key)):
            del qp[key]
            if good:
                qp[key] = good


def sidebar_filters(facets: dict) -> queries.Filters:
    """Draw the filter widgets and return the Filters they describe."""
    for key, opts in (("topics", facets["topics"]), ("source", facets["sources"]), ("lang", facets["langs"]),
                      ("role", facets["roles"])):
        _clean(key, opts)
    if "dates" in st.query_params:
        try:
            [dt.date.fromisoformat(v) for v in st.query_params.get_all("dates")]
        except ValueError:
            del st.query_params["dates"]
    sb = st.sidebar
    sb.header("Filters")
    topics = sb.multiselect("Topics", facets["topics"], default=facets["topics"], key="topics",
                            bind="query-params", help="Topics to chart and to list statements for.")
    lo, hi = facets["date_min"], facets["date_max"]
    dates = sb.date_input("Date range", value=(lo, hi), min_value=lo, max_value=hi, key="dates",
                          bind="query-params", help="First and last day to include.")
    sources = sb.multiselect("Source", facets["sources"], default=[], key="source", bind="query-params",
                             placeholder="all sources")
    langs = sb.multiselect("Language", facets["langs"], default=[], key="lang", bind="query-params",
                           placeholder="all languages")
    roles = sb.multiselect("Speaker role", facets["roles"], default=[], key="role", bind="query-params",
                           placeholder="all roles", help="head of state, official, press (questions), other")
    speakers = sb.multiselect("Speaker", facets["speakers"], default=[], key="speaker", bind="query-params",
                              placeholder="all speakers", accept_new_options=True)
    search = sb.text_input("Search text", key="q", bind="query-params",
                           help='Words that must all occur (accents ignored); "quoted phrase" for a phrase. '
                                "Narrows the charts too.")
    date_from, date_to = (dates[0], dates[1]) if isinstance(dates, (tuple, list)) and len(dates) == 2 else (lo, hi)
    return queries.Filters(
        date_from=date_from, date_to=date_to, sources=tuple(sources), langs=tuple(langs), roles=tuple(roles),
        speakers=tuple(speakers), search=search.strip(), topics=tuple(topics),
    )
