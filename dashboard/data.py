"""The dashboard's access to the store: read-only, cached, refreshed when a run commits."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import pandas as pd
import streamlit as st

from pipeline import queries, settings, store
from pipeline.errors import StoreError


def store_dir() -> str:
    return os.environ.get("TOPICS_STORE", settings.get("store"))


def connect() -> sqlite3.Connection:
    """A fresh read-only connection (cheap); each query sees the last committed state."""
    return store.open_readonly(store_dir())


def version() -> tuple:
    """Changes whenever a run commits; part of every cache key so new data shows at once."""
    try:
        conn = connect()
    except StoreError:
        return ("empty",)
    try:
        return (store_dir(), *conn.execute(
            "SELECT (SELECT MAX(sid) FROM statements), (SELECT COUNT(*) FROM runs), "
            "(SELECT MAX(finished_at) FROM runs), "
            "(SELECT value FROM meta WHERE key = 'tags_swapped_at')").fetchone())  # a retrain's re-tag
    finally:
        conn.close()


def _with_conn(fn, *args, **kwargs):
    conn = connect()
    try:
        return fn(conn, *args, **kwargs)
    finally:
        conn.close()


# The cached functions take the store's version as a parameter named ``version``: Streamlit
# leaves parameters whose name starts with "_" out of the cache key, so a "_version" let every
# session after a run see the facets and counts cached before it.
@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def facets(version: tuple) -> dict:
    return _with_conn(queries.facets)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def trend(version: tuple, f: queries.Filters, granularity: str, group_by: str | None = None) -> pd.DataFrame:
    return _with_conn(queries.trend, f, granularity, group_by)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def cooccurrence(version: tuple, f: queries.Filters) -> pd.DataFrame:
    return _with_conn(queries.cooccurrence, f)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def statements(version: tuple, f: queries.Filters, topic: str | None, limit: int, offset: int
               ) -> tuple[pd.DataFrame, int]:
    return _with_conn(queries.statements, f, topic=topic, limit=limit, offset=offset)


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def status(version: tuple) -> dict:
    return _with_conn(queries.status)


@st.cache_resource(max_entries=2)
def model(path: str):
    """The tagger, for the evidence highlighted in drill-downs (loaded safely with skops)."""
    from pipeline.tagger import load_model

    return load_model(path)


def has_data() -> bool:
    try:
        conn = connect()
    except StoreError:
        return False
    try:
        return conn.execute("SELECT 1 FROM statements LIMIT 1").fetchone() is not None
    finally:
        conn.close()


def period_filters(f: queries.Filters, period: dt.date, granularity: str) -> queries.Filters:
    """The filters narrowed to one period of a chart (for drill-down)."""
    start, end = queries.period_bounds(period, granularity)
    lo = max(start, f.date_from) if f.date_from else start
    hi = min(end, f.date_to) if f.date_to else end
    return queries.Filters(**{**f.__dict__, "date_from": lo, "date_to": hi})
