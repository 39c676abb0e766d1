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
    return settings.get("store")


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
        return (store_dir(), *queries.store_version(conn))
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


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def tagging_models(version: tuple) -> dict[str, int]:
    return _with_conn(queries.tagging_models)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def trend(version: tuple, f: queries.Filters, granularity: str, group_by: str | None = None) -> pd.DataFrame:
    return _with_conn(queries.trend, f, granularity, group_by)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def statements(version: tuple, f: queries.Filters, topic: str | None, limit: int, offset: int
               ) -> tuple[pd.DataFrame, int]:
    return _with_conn(queries.statements, f, topic=topic, limit=limit, offset=offset)


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def status(version: tuple) -> dict:
    return _with_conn(queries.status)


def model(path: str):
    """The tagger, for the evidence highlighted in drill-downs and the audit sample's scores.

    Not a Streamlit cache of its own: ``load_model`` keeps one per process keyed by the file's
    modification time and size, so a model retrained at the same path is the one served (a cache
    keyed by the path alone kept scoring the audit sample with the old model)."""
    from pipeline.tagger import load_model

    return load_model(path)


def has_data() -> bool:
    try:
        conn = connect()
    except StoreError:
        return False
    try:
        return queries.has_statements(conn)
    finally:
        conn.close()


def period_filters(f: queries.Filters, period: dt.date, granularity: str) -> queries.Filters:
    """The filters narrowed to one period of a chart (for drill-down)."""
    start, end = queries.period_bounds(period, granularity)
    lo = max(start, f.date_from) if f.date_from else start
    hi = min(end, f.date_to) if f.date_to else end
    return queries.Filters(**{**f.__dict__, "date_from": lo, "date_to": hi})


# -- the audit sample: corrected shares, reliability, drift -------------------------------------------
def audit_key() -> tuple | None:
    """What identifies the audit as the dashboard uses it: the model file and the audit sample's
    modification time (a recoded sample or a retrained model loads anew). None without a sample."""
    from pipeline import audit

    try:
        mtime = audit.SAMPLE_FILE.stat().st_mtime
    except OSError:
        return None
    path = settings.get("model")
    try:
        model_mtime = os.stat(path).st_mtime
    except OSError:
        model_mtime = None
    return (path, model_mtime, str(audit.SAMPLE_FILE), mtime)


@st.cache_resource(max_entries=2, show_spinner=False)
def audit_sample(key: tuple):
    """The audit sample scored by the model (``audit.Audit``), loaded once per model and sample."""
    from pipeline import audit

    return audit.load(model(key[0]))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def corrected_trend(version: tuple, f: queries.Filters, granularity: str, key: tuple, rolling: int = 1
                    ) -> pd.DataFrame:
    """``queries.corrected_trend`` (intervals included, and a ``rolling`` mean's), cached by store
    version, filters, audit and rolling mean."""
    return _with_conn(queries.corrected_trend, f, audit_sample(key), granularity, rolling=rolling)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def corrected_totals(version: tuple, f: queries.Filters, group_by: str, key: tuple) -> pd.DataFrame:
    return _with_conn(queries.corrected_totals, f, audit_sample(key), group_by)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def cooccurrence(version: tuple, f: queries.Filters, key: tuple | None) -> pd.DataFrame:
    """``queries.cooccurrence``: corrected with the audit sample when ``key`` (``audit_key``) is given."""
    return _with_conn(queries.cooccurrence, f, audit_sample(key) if key else None)


@st.cache_data(max_entries=4, ttl=3600, show_spinner=False)
def reliability(key: tuple) -> dict:
    """Every topic's reliability card: depends on the model and the audit sample only."""
    a = audit_sample(key)
    return {t: a.card(t) for t in a.topics}


@st.cache_data(max_entries=4, ttl=3600, show_spinner=False)
def drift(version: tuple, key: tuple) -> list[dict]:
    """Drift per source and quarter (a few seconds on the full store): once per store version."""
    from pipeline import audit

    return _with_conn(audit.drift, audit_sample(key), model(key[0]))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def provenance(version: tuple, key: tuple | None):
    """The store's provenance (``pipeline.provenance.gather``), with the audit's when ``key`` (the
    corrected measure's ``audit_key``) is given: once per store version and audit."""
    from pipeline import provenance as provenance_mod

    return _with_conn(provenance_mod.gather, audit_sample(key) if key else None, tagging_models(version))
