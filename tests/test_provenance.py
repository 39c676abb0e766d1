"""Citations: what a number shown by the dashboard was computed from, enough to find it again."""

from __future__ import annotations

import datetime as dt
import re

from streamlit.testing.v1 import AppTest

from dashboard.state import page_url
from pipeline import audit, provenance, queries, store
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")


def test_a_citation_names_the_stores_state_the_models_the_audit_and_the_filters(seed_store):
    conn = store.open_readonly(seed_store)
    try:
        status = queries.status(conn)
        store_id = store.read_store_id(conn)
        models = queries.tagging_models(conn)
        plain = provenance.gather(conn)
        from pipeline.tagger import load_model

        corrected = provenance.gather(conn, audit.load(load_model()))
    finally:
        conn.close()
    f = queries.Filters(date_from=dt.date(2025, 1, 1), date_to=dt.date(2025, 6, 30), topics=("trade",),
                        sources=("White House",), search='"steel tariffs"')
    text = provenance.citation(plain, what="Weekly share of statements on each topic, as tagged", f=f,
                               url="http://localhost:8501/trends?topics=trade", accessed=dt.date(2026, 12, 7))
    assert text.startswith("Weekly share of statements on each topic, as tagged. Filters: dates 2025-01-01 to "
                           "2025-06-30; topics trade; sources White House; search '\"steel tariffs\"'.")
    assert store_id and store_id in text
    # The store's size and dates are those the Store page gives; the models those that tagged it.
    assert f"({status['statements']:,} statements dated {status['first_date']} to {status['last_date']};" in text
    assert re.search(r"last run ended \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert all(v in text for v in models) and "audit" not in text
    assert text.endswith("http://localhost:8501/trends?topics=trade (accessed 2026-12-07).")
    # Corrected numbers also name the audit sample they were corrected with.
    with_audit = provenance.citation(corrected, what="x", f=queries.Filters())
    assert "Filters: all statements." in with_audit
    assert re.search(r"audit sample \([\d,]+ statements coded with the codebook, last coded \d{4}-\d\d-\d\d; its "
                     r"scores from model \w+\); intervals are 95 %", with_audit)


def test_a_store_tagged_by_two_models_is_cited_with_both():
    p = provenance.Provenance(store_id="abc", first_date=dt.date(2025, 1, 6),
                              last_date=dt.date(2025, 1, 9), last_run=None, models={"m1": 20, "m2": 10},
                              software="topic-tracker 0.1.0")
    text = provenance.citation(p, what="x", f=queries.Filters())
    assert "tagged by models m1 (20 statements), m2 (10 statements)." in text and "last run" not in text


def test_the_link_reopens_the_page_with_its_settings():
    params = {"topics": ["security", "trade"], "measure": ["corrected"], "q": ["a b&c"]}
    assert page_url("http://localhost:8501/", "trends", params) == \
        "http://localhost:8501/trends?topics=security&topics=trade&measure=corrected&q=a+b%26c"
    assert page_url("http://localhost:8501", "", {}) == "http://localhost:8501/"
    assert page_url(None, "trends", params) is None  # no browser, no address


def test_chart_pages_offer_a_citation_of_what_they_show(seed_store, monkeypatch):
    monkeypatch.setenv("TOPICS_STORE", str(seed_store))
    from dashboard import data

    data.facets.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["topics"] = ["trade"]
    at.query_params["measure"] = "corrected"
    at.query_params["granularity"] = "month"
    at.run()
    assert not at.exception, at.exception
    conn = store.open_readonly(seed_store)
    store_id = store.read_store_id(conn)
    conn.close()
    (trends,) = [c.value for c in at.code]
    assert trends.startswith("Monthly share of statements on each topic, corrected for the tagger's errors. "
                             "Filters: dates ")
    assert "topics trade" in trends and store_id in trends and "audit sample" in trends
    at.switch_page("views/compare.py").run()
    (compare,) = [c.value for c in at.code]
    assert compare.startswith("Statements on each topic by source, share as tagged.") and "audit" not in compare
    at.switch_page("views/events.py").run()
    codes = [c.value for c in at.code]
    assert len(codes) == 1 and codes[0].startswith("Spikes in the ") and store_id in codes[0]


def test_a_briefs_report_cites_it_with_its_summarys_digest(seed_store, tmp_path):
    # The digest in report.html's citation is the SHA-256 of the summary.json beside it: a reader
    # holding a copy can check it is the brief cited; a changed number changes the digest.
    import hashlib
    import html
    import json

    from pipeline import snapshot

    folder = snapshot.write_week(str(seed_store), tmp_path / "snaps", "2026-W03")
    body = (folder / "summary.json").read_bytes()
    summary = json.loads(body)
    page = html.unescape((folder / "report.html").read_text(encoding="utf-8"))
    cite = re.search(r'<p class="cite">([^<]*)</p>', page).group(1)
    assert cite == provenance.brief_citation(summary, hashlib.sha256(body).hexdigest())
    assert cite.startswith(f"Weekly brief 2026-W03 (2026-01-12 to 2026-01-18: {summary['statements']:,} statements")
    assert summary["store_id"] in cite and summary["model_versions"][0] in cite and "audit sample" in cite
    assert cite.endswith(f"summary.json SHA-256 {hashlib.sha256(body).hexdigest()}.")
    assert summary["software"] == provenance.software()
    # A brief frozen before briefs named their software is still cited, without it.
    older = {k: v for k, v in summary.items() if k != "software"}
    assert f"made {summary['made_at'][:10]}" in provenance.brief_citation(older) and " by " not in \
        provenance.brief_citation(older).split(" from store ")[0]


def test_trend_cite_prints_the_citation_on_stderr_and_leaves_the_json_as_it_is(seed_store):
    import json

    from tests.conftest import run_cli

    args = ("trend", "--store", str(seed_store), "--by", "month", "--topic", "trade", "--since", "2026-01-01",
            "--corrected", "--json")
    plain = run_cli(*args)
    cited = run_cli(*args, "--cite")
    assert cited.returncode == 0 and json.loads(cited.stdout) == json.loads(plain.stdout)
    conn = store.open_readonly(seed_store)
    store_id = store.read_store_id(conn)
    conn.close()
    line = cited.stderr.strip().splitlines()[-1]
    assert line.startswith("Monthly share of statements on each topic, corrected for the tagger's errors. "
                           "Filters: dates from 2026-01-01; topics trade. Computed by topic-tracker")
    assert store_id in line and "audit sample" in line
    # events --cite likewise: its filters (topics, sources, since), the JSON untouched.
    args = ("events", "--store", str(seed_store), "--topic", "trade", "--source", "White House", "--json")
    plain, cited = run_cli(*args), run_cli(*args, "--cite")
    assert cited.returncode == 0 and json.loads(cited.stdout) == json.loads(plain.stdout)
    line = cited.stderr.strip().splitlines()[-1]
    assert line.startswith("Spikes in the corrected weekly share of topics per source. Filters: topics trade; "
                           "sources White House. Computed by topic-tracker") and store_id in line


def test_the_weekly_page_cites_a_frozen_brief_with_its_digest_and_live_numbers_as_the_stores(
        seed_store_copy, monkeypatch):
    import hashlib

    from pipeline import settings, snapshot

    store_dir = str(seed_store_copy)
    folder = snapshot.write_week(store_dir, settings.snapshots_dir(store_dir), "2026-W03")
    digest = hashlib.sha256((folder / "summary.json").read_bytes()).hexdigest()
    monkeypatch.setenv("TOPICS_STORE", store_dir)
    from dashboard import data

    data.facets.clear()
    for week, frozen in (("2026-W03", True), ("2026-W04", False)):
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["week"] = week
        at.run()
        at.switch_page("views/weekly.py").run()
        assert not at.exception, at.exception
        (code,) = [c.value for c in at.code]
        if frozen:
            assert code.startswith("Weekly brief 2026-W03 (2026-01-12 to 2026-01-18: ")
            assert code.endswith(f"summary.json SHA-256 {digest}.")
        else:
            assert code.startswith("Topics of the week 2026-W04, live numbers (no frozen brief). Filters: dates "
                                   "2026-01-19 to 2026-01-25.")


def test_a_brief_and_a_trend_name_the_commit_of_the_code_that_computed_them(seed_store, tmp_path):
    """QA: citations named the software as "topic-tracker 0.1.0", the version of every commit of the
    project (no release carries it), so a reader could not tell which code computed a cited
    interval, though the code changes the numbers. In a git checkout they now name its commit
    (and that its code was modified, when it was)."""
    import json
    import subprocess

    from pipeline import snapshot
    from tests.conftest import run_cli

    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        import pytest

        pytest.skip("not a git checkout: citations name the version alone")
    commit = head.stdout.strip()[:12]
    summary = json.loads((snapshot.write_week(str(seed_store), tmp_path / "snaps", "2026-W03")
                          / "summary.json").read_text(encoding="utf-8"))
    assert f"(commit {commit}" in summary["software"]
    assert f"by {summary['software']} from store" in provenance.brief_citation(summary)
    r = run_cli("trend", "--store", str(seed_store), "--by", "month", "--cite")
    assert r.returncode == 0 and f"Computed by topic-tracker 0.1.0 (commit {commit}" in r.stderr
