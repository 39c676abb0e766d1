"""Weekly snapshots: numbers equal a fresh computation, never rewritten, a self-contained page."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from pipeline import queries, snapshot, store
from pipeline.errors import UsageError
from tests.conftest import run_cli


def test_snapshot_numbers_equal_a_fresh_computation(seed_store, tmp_path):
    out = tmp_path / "snaps"
    r = run_cli("snapshot", "--week", "2026-W03", "--store", str(seed_store), "--out", str(out))
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "2026-W03" / "summary.json").read_text())
    assert (s["start"], s["end"]) == ("2026-01-12", "2026-01-18")
    conn = store.open_readonly(seed_store)
    n = conn.execute("SELECT COUNT(*) FROM statements WHERE date BETWEEN '2026-01-12' AND '2026-01-18'").fetchone()[0]
    assert s["statements"] == n > 0
    bits = store.topic_bits(conn)
    for topic, v in s["topics"].items():
        c = conn.execute("SELECT COUNT(*) FROM statements WHERE date BETWEEN '2026-01-12' AND '2026-01-18' "
                         f"AND (topic_mask >> {bits[topic]}) & 1", ()).fetchone()[0]
        assert v["count"] == c
        assert v["share"] == pytest.approx(c / n, abs=1e-4)
        prev = conn.execute("SELECT COUNT(*) FROM statements WHERE date BETWEEN '2026-01-05' AND '2026-01-11' "
                            f"AND (topic_mask >> {bits[topic]}) & 1").fetchone()[0]
        assert v["previous_week"]["change_count"] == c - prev
        assert len(v["quotes"]) <= 3
        assert all("2026-01-12" <= q["date"] <= "2026-01-18" for q in v["quotes"])
    assert s["documents"] == 6 and s["sources"] == ["Mexican presidency"]  # 5 conferences and the seed
    assert s["model_versions"] and s["topics_hash"]
    rows = list(csv.DictReader((out / "2026-W03" / "statements.csv").open(encoding="utf-8")))
    assert len(rows) == n


def test_existing_snapshot_is_never_rewritten_unless_forced(seed_store, tmp_path):
    out = tmp_path / "snaps"
    first = snapshot.write_week(str(seed_store), out, "2026-W02")
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    again = snapshot.write_week(str(seed_store), out, "2026-W02")
    assert {p.name: p.read_bytes() for p in again.iterdir()} == before
    snapshot.write_week(str(seed_store), out, "2026-W02", force=True)
    kept = [p for p in out.iterdir() if p.name.startswith("2026-W02.previous-")]
    assert len(kept) == 1 and {p.name: p.read_bytes() for p in kept[0].iterdir()} == before


def test_all_writes_only_missing_weeks(seed_store, tmp_path):
    out = tmp_path / "snaps"
    written = snapshot.write_all(str(seed_store), out)
    conn = store.open_readonly(seed_store)
    weeks = conn.execute("SELECT COUNT(DISTINCT week) FROM statements").fetchone()[0]
    assert len(written) == weeks
    assert snapshot.write_all(str(seed_store), out) == []


def test_bad_week_is_a_usage_error(seed_store):
    with pytest.raises(UsageError):
        snapshot.parse_week("2026-3")
    with pytest.raises(UsageError):
        snapshot.parse_week("2026-W60")
    r = run_cli("snapshot", "--week", "last week", "--store", str(seed_store))
    assert r.returncode == 2 and "2026-W03" in r.stderr


def test_report_escapes_statement_text(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "x.jsonl").write_text(json.dumps({
        "date": "2025-03-04", "source": "Test",
        "text": "<script>alert('x')</script> New tariffs on Mexican steel and aluminum imports under the trade deal.",
    }) + "\n")
    st_dir = tmp_path / "store"
    assert run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots").returncode == 0
    folder = snapshot.write_week(str(st_dir), tmp_path / "snaps", "2025-W10")
    page = (folder / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_trend_query_matches_plain_sql(seed_store):
    conn = store.open_readonly(seed_store)
    df = queries.trend(conn, queries.Filters(sources=("White House",)), "month")
    raw = sqlite3.connect(store.db_path(seed_store))
    n = raw.execute("SELECT COUNT(*) FROM statements WHERE source='White House' "
                    "AND date LIKE '2025-03-%'").fetchone()[0]
    march = df[df["period"].astype(str) == "2025-03-01"]
    assert set(march["total"]) == {n}


@pytest.mark.parametrize("week", ["0001-W01", "9999-W52", "２０２６-W03", "2026-W0３", "2026-W03\n", " 2026-W03",
                                  "2026-w03"])
def test_week_out_of_range_or_not_ascii_is_a_usage_error(seed_store, tmp_path, week):
    out = tmp_path / "snaps"
    r = run_cli("snapshot", "--week", week, "--store", str(seed_store), "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "error:" in r.stderr and repr(week) in r.stderr
    assert not out.exists() or not any(out.iterdir())
