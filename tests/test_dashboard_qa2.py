"""Defects found by a demanding user's pass over every page (seed and full stores, in Chromium),
each checked here on a seed store through AppTest or on the functions themselves."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, run_cli

APP = str(ROOT / "dashboard" / "app.py")


def _app(store: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOPICS_STORE", str(store))
    return AppTest.from_file(APP, default_timeout=120)


def _records(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_an_open_session_follows_the_stores_new_dates_unless_the_user_chose_dates(seed_store_copy, tmp_path,
                                                                                  monkeypatch):
    """QA: with the dashboard open, a run added statements after (or before) the store's dates; the
    Store page then gave the new last date, but Trends kept charting the old range in that session
    (the date filter held the store's old first and last day, which the user never chose), until a
    new session. A range the user chose stays as chosen."""
    st.cache_data.clear()
    at = _app(seed_store_copy, monkeypatch).run()
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2025, 1, 20), dt.date(2026, 3, 31))
    more = _records(tmp_path / "more.jsonl", [
        {"date": "2026-04-14", "source": "Mexican presidency", "speaker": "Reporter",
         "text": "Los aranceles al acero y el comercio con Estados Unidos se revisan esta semana."},
    ])
    r = run_cli("run", "--input", str(more), "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr

    at.run()  # the same session, rerun (a click, the Rerun menu)
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2025, 1, 20), dt.date(2026, 4, 14))
    assert at.session_state["filters"].date_to == dt.date(2026, 4, 14)

    # A range chosen by the user is kept through the next run.
    at.date_input(key="dates").set_value((dt.date(2025, 3, 1), dt.date(2026, 4, 14))).run()
    more2 = _records(tmp_path / "more2.jsonl", [
        {"date": "2026-04-20", "source": "Mexican presidency", "speaker": "Reporter",
         "text": "La seguridad en la frontera y el fentanilo."},
    ])
    r = run_cli("run", "--input", str(more2), "--store", str(seed_store_copy), "--no-snapshots")
    assert r.returncode == 0, r.stdout + r.stderr
    at.run()
    assert not at.exception, at.exception
    assert at.date_input(key="dates").value == (dt.date(2025, 3, 1), dt.date(2026, 4, 14))
