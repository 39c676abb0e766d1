"""Dashboard hardening (issue #12): fresh data after a run, escaped metadata, URL parameters.

Every test drives the real app through Streamlit's AppTest against a real store built by
`python -m pipeline run`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, run_cli

APP = str(ROOT / "dashboard" / "app.py")


def _records(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _app(store: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOPICS_STORE", str(store))
    return AppTest.from_file(APP, default_timeout=60)


def test_a_new_session_after_a_second_run_shows_the_new_source_and_dates(seed_store_copy, tmp_path, monkeypatch):
    # The earlier check read the store directly (queries.facets), and the page tests clear the
    # cache before each test, so neither saw what a viewer sees: the cached facets of the
    # first session. Here the cache is left as the first session filled it.
    st.cache_data.clear()
    first = _app(seed_store_copy, monkeypatch).run()
    assert not first.exception, first.exception
    assert "Newsroom" not in first.multiselect(key="source").options
    assert first.date_input(key="dates").value[0] == dt.date(2025, 1, 20)

    more = _records(tmp_path / "more.jsonl", [
        {"date": "2024-03-04", "source": "Newsroom", "speaker": "Reporter",
         "text": "The new tariffs on steel imports will be discussed with the trade ministers next week."},
    ])
    r = run_cli("run", "--input", str(more), "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr

    second = _app(seed_store_copy, monkeypatch).run()
    assert not second.exception, second.exception
    assert "Newsroom" in second.multiselect(key="source").options
    assert second.date_input(key="dates").value[0] == dt.date(2024, 3, 4)
    second.switch_page("views/status.py").run()
    assert not second.exception, second.exception
    assert "2024-03-04" in [m.value for m in second.metric]
    by_source = second.dataframe[0].value
    assert "Newsroom" in list(by_source.iloc[:, 0])
