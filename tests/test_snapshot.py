"""Weekly snapshots: numbers equal a fresh computation, never rewritten, a self-contained page."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import queries, snapshot, store
from pipeline.errors import UsageError
from tests.conftest import ROOT, run_cli


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


def test_report_quotes_show_white_house_formatting_as_the_dashboard_does(tmp_path):
    """QA: report.html showed a White House paragraph's '<span style=...>' and '**' as text; it now
    takes them out like the dashboard (the store and statements.csv keep the text as read)."""
    raw = ('<span style="text-decoration: underline">Sec. 2. Tariffs.</span> **New tariffs** on Mexican steel '
           "and aluminum imports, [the proclamation](https://www.whitehouse.gov/x) says, under the trade deal.")
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "x.jsonl").write_text(json.dumps({"date": "2025-03-04", "source": "Test", "text": raw}) + "\n")
    st_dir = tmp_path / "store"
    assert run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots").returncode == 0
    folder = snapshot.write_week(str(st_dir), tmp_path / "snaps", "2025-W10")
    page = (folder / "report.html").read_text()
    assert "Sec. 2. Tariffs. New tariffs on Mexican steel and aluminum imports, the proclamation says" in page
    assert "span style" not in page and "**" not in page
    assert raw.replace('"', '""') in (folder / "statements.csv").read_text(encoding="utf-8")


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


# -- small stores of records (a few statements in known weeks) ------------------------------------
TRADE = "New tariffs on Mexican steel and aluminum imports under the trade deal."
MIGRATION = "Deportations of migrants rose again at the border crossings this year."


def _records_store(st_dir: Path, rows: list[tuple[str, str]], *args: str, env: dict | None = None):
    """Run `run` on a records file of (date, text) rows into ``st_dir``; the finished process."""
    inbox = st_dir.parent / f"in-{st_dir.name}"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "r.jsonl").write_text("".join(json.dumps({"date": d, "text": t, "source": "Test"}) + "\n"
                                           for d, t in rows))
    return run_cli("run", "--input", str(inbox), "--store", str(st_dir), *args,
                   env={"TOPICS_SNAPSHOTS": "", **(env or {})})


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def _hidden_or_previous(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".store-id"
                  or ".previous-" in p.name)


def test_two_stores_in_one_folder_each_keep_their_own_snapshots(tmp_path, monkeypatch):
    a, b = tmp_path / "stores" / "a", tmp_path / "stores" / "b"
    r = _records_store(a, [("2025-03-04", TRADE)] * 3)
    assert r.returncode == 0, r.stderr
    r = _records_store(b, [("2025-03-05", MIGRATION), ("2025-03-06", MIGRATION + " Again.")])
    assert r.returncode == 0, r.stderr
    assert "weekly snapshots written: 1" in r.stdout  # b's week, although a already has that week
    sa, sb = _summary(a / "snapshots" / "2025-W10"), _summary(b / "snapshots" / "2025-W10")
    assert (sa["statements"], sb["statements"]) == (3, 2)
    assert sa["store_id"] and sb["store_id"] and sa["store_id"] != sb["store_id"]
    assert sa["store_id"] == store.read_store_id(store.open_readonly(a))
    # b's Weekly page shows b's frozen brief, not a's
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TOPICS_STORE", str(b))
    monkeypatch.delenv("TOPICS_SNAPSHOTS", raising=False)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60).run()
    at.switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    caption = " ".join(str(c.value) for c in at.caption)
    assert "2 statements" in caption and "frozen snapshot" in caption, caption


def test_a_snapshot_folder_of_another_store_is_refused(tmp_path):
    shared = tmp_path / "shared"
    env = {"TOPICS_SNAPSHOTS": str(shared)}
    a, b = tmp_path / "a", tmp_path / "b"
    assert _records_store(a, [("2025-03-04", TRADE)] * 3, env=env).returncode == 0
    before = (shared / "2025-W10" / "summary.json").read_bytes()
    r = _records_store(b, [("2025-03-05", MIGRATION), ("2025-03-12", MIGRATION)], env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "stored 2 statements; snapshots not written" in r.stderr and str(shared) in r.stderr
    assert "another store" in r.stderr
    # run has no --out: its advice names the setting, and --out as snapshot's option only
    assert "(--out" not in r.stderr and "TOPICS_SNAPSHOTS" in r.stderr and "snapshot --out" in r.stderr, r.stderr
    assert (shared / "2025-W10" / "summary.json").read_bytes() == before
    assert not (shared / "2025-W11").exists()  # nothing of b's mixed into a's folder
    assert store.open_readonly(b).execute("SELECT COUNT(*) FROM statements").fetchone()[0] == 2
    r = run_cli("snapshot", "--all", "--store", str(b), "--out", str(shared))
    assert r.returncode == 1 and "another store" in r.stderr and "Traceback" not in r.stderr


def test_a_snapshot_folder_that_is_a_file_is_named_as_a_file(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    r = _records_store(tmp_path / "a", [("2025-03-04", TRADE)] * 3, env={"TOPICS_SNAPSHOTS": str(a_file)})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{a_file}: is a file, not a folder for the weekly snapshots" in r.stderr, r.stderr
    assert "(--out" not in r.stderr and "snapshot --out" in r.stderr, r.stderr
    r = run_cli("snapshot", "--all", "--store", str(tmp_path / "a"), "--out", str(a_file))
    assert r.returncode == 1 and "is a file, not a folder" in r.stderr, r.stderr
    assert a_file.read_text() == "mine\n"


def test_old_shared_snapshot_folder_is_left_alone_and_named(tmp_path):
    """Before, the default folder was 'snapshots' beside the store; it is no longer read or written."""
    old = tmp_path / "snapshots" / "2025-W10"
    old.mkdir(parents=True)
    (old / "summary.json").write_text('{"week": "2025-W10", "statements": 99}')
    a = tmp_path / "store"
    r = _records_store(a, [("2025-03-04", TRADE)])
    assert r.returncode == 0, r.stderr
    assert _summary(a / "snapshots" / "2025-W10")["statements"] == 1
    assert json.loads((old / "summary.json").read_text())["statements"] == 99
    assert str(tmp_path / "snapshots") in r.stdout + r.stderr  # the note names the old folder


def test_an_incomplete_week_is_refused_and_never_frozen(tmp_path):
    today = dt.date.today()
    this_week = snapshot.week_label(today - dt.timedelta(days=today.weekday()))
    st_dir = tmp_path / "store"
    r = _records_store(st_dir, [(today.isoformat(), TRADE), ("2025-03-04", TRADE)])
    assert r.returncode == 0, r.stderr
    assert (st_dir / "snapshots" / "2025-W10").is_dir() and not (st_dir / "snapshots" / this_week).exists()
    out = tmp_path / "snaps"
    for week in (this_week, "2099-W10"):
        r = run_cli("snapshot", "--week", week, "--store", str(st_dir), "--out", str(out))
        assert r.returncode == 2 and "not over" in r.stderr and week in r.stderr, r.stderr
        assert not (out / week).exists()
        r = run_cli("snapshot", "--week", week, "--force", "--store", str(st_dir), "--out", str(out))
        assert r.returncode == 2 and not (out / week).exists()


def test_a_brief_written_before_its_week_ended_is_replaced(seed_store_copy, tmp_path):
    """Earlier versions froze the current week; such a brief is rewritten once the week is over."""
    out = tmp_path / "snaps"
    early = snapshot.write_week(str(seed_store_copy), out, "2026-W02")
    done = snapshot.write_week(str(seed_store_copy), out, "2026-W03")
    s = _summary(early)
    s.pop("complete", None)
    s["made_at"] = "2026-01-07T12:00:00+00:00"  # a Wednesday of that week: made mid-week
    (early / "summary.json").write_text(json.dumps(s))
    s = _summary(done)
    s.pop("complete", None)  # made after its Sunday: complete, kept as it is
    (done / "summary.json").write_text(json.dumps(s))
    kept = (done / "summary.json").read_bytes()
    written = snapshot.write_all(str(seed_store_copy), out)
    assert out / "2026-W02" in written and out / "2026-W03" not in written
    fresh = _summary(out / "2026-W02")
    assert fresh["complete"] is True and fresh["made_at"] > "2026-01-19"
    assert (done / "summary.json").read_bytes() == kept
    assert _hidden_or_previous(out) == []


def test_unwritable_snapshot_folder_after_a_run_says_what_was_stored(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    st_dir = tmp_path / "store"
    r = _records_store(st_dir, [("2025-03-04", TRADE), ("2025-03-05", MIGRATION)],
                       env={"TOPICS_SNAPSHOTS": str(blocker / "snaps")})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "run 1 stored 2 statements; snapshots not written:" in r.stderr and str(blocker) in r.stderr
    assert "run 1 finished" in r.stdout
    assert store.open_readonly(st_dir).execute("SELECT COUNT(*) FROM statements").fetchone()[0] == 2
    r = run_cli("snapshot", "--week", "2025-W10", "--store", str(st_dir), "--out", str(blocker / "snaps"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and str(blocker) in r.stderr, r.stderr
    r = run_cli("snapshot", "--all", "--store", str(st_dir), "--out", str(blocker))
    assert r.returncode == 1 and "Traceback" not in r.stderr and str(blocker) in r.stderr, r.stderr


def test_concurrent_snapshot_writers_leave_one_whole_brief_per_week(seed_store_copy, tmp_path):
    out = tmp_path / "snaps"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(2):
        procs = [subprocess.Popen([sys.executable, "-m", "pipeline", "snapshot", "--all", "--store",
                                   str(seed_store_copy), "--out", str(out)], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=600)
            assert p.returncode == 0, err
    weeks = snapshot.completed_weeks(store.open_readonly(seed_store_copy))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(weeks)
    assert _hidden_or_previous(out) == []
    for w in weeks:
        assert sorted(p.name for p in (out / w).iterdir()) == ["report.html", "statements.csv", "summary.json"]
        assert _summary(out / w)["week"] == w


def test_briefs_freeze_corrected_shares_with_intervals_and_the_weeks_events(seed_store_copy, tmp_path):
    """Schema 3: each topic's share corrected for the tagger's errors with its interval, the audit and
    model it came from, and the spikes of the week with their explanation (also in report.html)."""
    import json as _json

    from pipeline import snapshot as snap

    out = tmp_path / "briefs"
    written = snap.write_all(str(seed_store_copy), out)
    assert len(written) > 30
    summaries = [_json.loads((w / "summary.json").read_text(encoding="utf-8")) for w in written]
    for s in summaries:
        assert s["schema_version"] == 5
        assert s["correction"]["audit_statements"] >= 2000 and s["correction"]["model_version"]
        for t, v in s["topics"].items():
            if s["statements"]:
                assert v["ci_low"] <= v["share_corrected"] <= v["ci_high"], (s["week"], t, v)
        # Schema 4: every charted week with statements has its corrected share and interval, and the
        # brief's own week in the chart is the table's number.
        for h in s["history"]:
            if h["total"]:
                assert h["ci_low"] <= h["share_corrected"] <= h["ci_high"], (s["week"], h)
            else:
                assert h["share_corrected"] is None
            if h["week"] == s["week"]:
                v = s["topics"][h["topic"]]
                assert (h["share_corrected"], h["ci_low"], h["ci_high"]) == (
                    v["share_corrected"], v["ci_low"], v["ci_high"])
    with_events = [s for s in summaries if s["events"]]
    assert with_events, "the seed store has at least one spike"
    ev = with_events[0]["events"][0]
    assert ev["end"] <= with_events[0]["end"]  # cut at the week's end: a brief does not know the future
    assert ev["statements"] and any(ev["terms"].values())
    page = (out / with_events[0]["week"] / "report.html").read_text(encoding="utf-8")
    assert "corrected share" in page and "Spikes this week" in page
    from pipeline.display import size_text

    assert ev["share_ci"] and f"share {size_text(ev)} " in page  # the spike's interval, as on the Events page
    assert ev["statements"][0]["text"][:40].replace("&", "&amp;") in page or ev["topic"] in page
    # The Weekly page reads briefs of every schema: one written by an older version (schema 1).
    old = _json.loads((written[0] / "summary.json").read_text(encoding="utf-8"))
    for key in ("correction", "events", "store_id", "complete"):
        old.pop(key, None)
    old["schema_version"] = 1
    for v in old["topics"].values():
        for key in ("share_corrected", "ci_low", "ci_high"):
            v.pop(key)
    for h in old["history"]:
        for key in ("share_corrected", "ci_low", "ci_high"):
            h.pop(key)
    assert "corrected share" in snap.render_html({**old, "made_at": "2026-01-01"})


def test_the_report_chart_draws_intervals_in_the_dashboards_topic_colours(seed_store_copy, tmp_path):
    """report.html's chart: bars of corrected shares with a whisker per interval, each topic in the
    colour the dashboard gives it (one palette); a brief without corrected shares for its weeks
    draws tagged shares without whiskers and says so."""
    import json as _json
    import re

    from dashboard.figures import colour as dashboard_colour
    from pipeline import report
    from pipeline import snapshot as snap

    out = tmp_path / "briefs"
    written = snap.write_all(str(seed_store_copy), out)
    busiest = max(written, key=lambda w: _json.loads((w / "summary.json").read_text(encoding="utf-8"))["statements"])
    s = _json.loads((busiest / "summary.json").read_text(encoding="utf-8"))
    page = (busiest / "report.html").read_text(encoding="utf-8")
    svg = page[page.index("<svg"):page.index("</svg>")]
    topics = list(s["topics"])
    weeks_with_statements = len({h["week"] for h in s["history"] if h["total"]})
    # One whisker per (week with statements, topic); bars and legend in the dashboard's colours.
    assert svg.count("<path ") == weeks_with_statements * len(topics)
    for t in topics:
        assert f'fill="{dashboard_colour(topics, t)}"/><text' in svg  # the legend's swatch
    own = s["topics"][topics[0]]
    assert (f"{s['week']} {topics[0]}: corrected {own['share_corrected']:.1%} "
            f"(95 % interval {own['ci_low']:.1%}–{own['ci_high']:.1%})") in svg
    assert "lines: their 95 % intervals" in page
    # The same brief without corrected history (frozen by schema 3): tagged shares, no whisker.
    for h in s["history"]:
        h["share_corrected"] = h["ci_low"] = h["ci_high"] = None
    old_page = report.render_html(s)
    old_svg = old_page[old_page.index("<svg"):old_page.index("</svg>")]
    assert "<path " not in old_svg and "corrected" not in old_svg
    assert re.search(r"as tagged [0-9.]+% \([0-9,]+ of [0-9,]+\)", old_svg)
    assert "without intervals" in old_page


def test_a_week_outside_the_stores_weeks_is_a_usage_error_and_writes_nothing(tmp_path):
    st_dir = tmp_path / "store"
    r = _records_store(st_dir, [("2025-03-04", TRADE), ("2025-03-20", TRADE)], "--no-snapshots")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "snaps"
    for week in ("2024-W01", "2025-W09", "2025-W13", "2026-W10"):
        r = run_cli("snapshot", "--week", week, "--store", str(st_dir), "--out", str(out))
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.strip() == (f"error: week {week!r} is outside the store's weeks (2025-W10 to 2025-W12); "
                                    "no brief written")
        assert not out.exists()
    # A quiet week between two with statements is a brief of that week.
    r = run_cli("snapshot", "--week", "2025-W11", "--store", str(st_dir), "--out", str(out))
    assert r.returncode == 0 and _summary(out / "2025-W11")["statements"] == 0


def test_a_week_that_has_a_brief_says_it_was_kept_and_force_writes_a_new_one(tmp_path):
    st_dir = tmp_path / "store"
    assert _records_store(st_dir, [("2025-03-04", TRADE)]).returncode == 0
    folder = st_dir / "snapshots" / "2025-W10"
    made = _summary(folder)["made_at"]
    r = run_cli("snapshot", "--week", "2025-W10", "--store", str(st_dir))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"2025-W10 already has a brief (made {made}), kept: {folder}; --force writes a "
                                "new one, keeping this one beside it")
    assert _summary(folder)["made_at"] == made
    r = run_cli("snapshot", "--week", "2025-W10", "--force", "--store", str(st_dir))
    assert r.returncode == 0 and r.stdout.strip() == f"snapshot written: {folder}", r.stdout
    assert [p.name for p in folder.parent.iterdir() if ".previous-" in p.name]


def test_a_brief_folder_can_be_read_by_whoever_can_read_the_snapshot_folder(seed_store, tmp_path):
    out = tmp_path / "snaps"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    r = run_cli("snapshot", "--week", "2026-W03", "--store", str(seed_store), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "2026-W03").stat().st_mode & 0o777 == 0o755  # mkdtemp alone gave 0o700


def test_a_change_against_a_week_without_statements_is_no_change(tmp_path):
    """QA: a brief compared its share with 0 % for a week without statements (+14 points out of
    nothing) and averaged its eight-week mean share over weeks that had none. A week without
    statements has no share: the change against it is null (a dash), and the mean share is that
    of the weeks that had statements; a count is still a count (0 in an empty week)."""
    from pipeline import report

    st_dir = tmp_path / "store"
    rows = [("2025-03-04", TRADE), ("2025-03-04", MIGRATION), ("2025-03-05", MIGRATION), ("2025-03-06", MIGRATION),
            ("2025-03-18", TRADE), ("2025-03-19", MIGRATION)]
    assert _records_store(st_dir, rows, "--no-snapshots").returncode == 0
    folder = snapshot.write_week(str(st_dir), tmp_path / "snaps", "2025-W12")
    s = _summary(folder)
    trade = s["topics"]["trade"]
    assert trade["share"] == 0.5
    assert trade["previous_week"] == {"count": 0, "share": None, "change_count": 1, "change_share": None,
                                      "change_share_corrected": None, "change_ci_low": None, "change_ci_high": None}
    mean = trade["previous_8_weeks_mean"]
    assert mean["share"] == 0.25 and mean["change_share"] == 0.25  # W10 only: 1 of 4, not 1 of 4 / 8
    # Corrected likewise: against W10's corrected share alone (the empty W11 is no part of the mean).
    w10 = next(h for h in s["history"] if h["week"] == "2025-W10" and h["topic"] == "trade")
    assert mean["change_share_corrected"] == pytest.approx(trade["share_corrected"] - w10["share_corrected"], abs=2e-4)
    assert mean["count"] == 0.12 and mean["change_count"] == 0.88  # counts: 1 statement in eight weeks
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<td>+1 (—)</td>" in page and "(+25.0 pts)" in page
    assert report.points(None) == "—"


def test_a_brief_of_a_partial_week_says_so_and_keeps_saying_so(tmp_path):
    """QA: report.html of a week the store held one day of said nothing of it, and the dashboard's
    note described the store now, not the brief. The note is frozen with the brief."""
    st_dir = tmp_path / "store"
    import html

    rows = [("2025-03-06", TRADE), ("2025-03-12", MIGRATION), ("2025-03-20", TRADE)]
    assert _records_store(st_dir, rows, "--no-snapshots").returncode == 0
    folder = snapshot.write_week(str(st_dir), tmp_path / "snaps", "2025-W10")
    note = _summary(folder)["partial_note"]
    assert "start on 2025-03-06" in note and "4 of its 7 days" in note
    assert html.escape(note) in (folder / "report.html").read_text(encoding="utf-8")
    whole = snapshot.write_week(str(st_dir), tmp_path / "snaps", "2025-W11")
    assert _summary(whole)["partial_note"] is None


def test_briefs_give_corrected_changes_with_intervals_consistent_with_their_weeks(seed_store_copy, tmp_path):
    """Schema 5: per topic, the change of corrected share against the previous week and against the
    mean corrected share of the eight weeks before (those with statements), each with its 95 %
    interval; the point is the difference of the weeks' corrected shares that the brief gives (its
    own and its history's), up to rounding. Movers rank by the corrected change."""
    out = tmp_path / "briefs"
    written = snapshot.write_all(str(seed_store_copy), out)
    briefs = {s["week"]: s for s in (_summary(w) for w in written)}
    checked = {"previous_week": 0, "previous_8_weeks_mean": 0}
    for week, s in briefs.items():
        assert s["schema_version"] == 5
        shares = {(h["week"], h["topic"]): h["share_corrected"] for h in s["history"] if h["total"]}
        weeks = sorted({h["week"] for h in s["history"]})
        previous, before = weeks[-2], weeks[:-1]
        for t, v in s["topics"].items():
            for against, base in (("previous_week", [previous]), ("previous_8_weeks_mean", before)):
                m = v[against]
                assert {"change_share", "change_share_corrected", "change_ci_low", "change_ci_high"} <= set(m)
                bases = [shares[(b, t)] for b in base if (b, t) in shares]
                if not s["statements"] or not bases:
                    assert m["change_share_corrected"] is m["change_ci_low"] is m["change_ci_high"] is None
                    assert m["change_share"] is None  # the same weeks have no change as tagged
                    continue
                assert m["change_ci_low"] <= m["change_share_corrected"] <= m["change_ci_high"], (week, t, m)
                expected = v["share_corrected"] - sum(bases) / len(bases)
                assert m["change_share_corrected"] == pytest.approx(expected, abs=2e-4), (week, t, against)
                checked[against] += 1
        ranked = [abs(x["change_share_corrected_vs_8_week_mean"] or 0) for x in s["movers"]]
        if s["movers_ranked_by"] == "change_share_corrected":
            assert ranked == sorted(ranked, reverse=True)
        else:  # only briefs with nothing to compare have nothing to rank by
            assert all(x["change_share_vs_8_week_mean"] is None for x in s["movers"])
    assert min(checked.values()) > 100, checked
    # The brief of a week and the brief of the week before agree on the change (each froze the
    # earlier week's corrected share itself), and the report shows the change with its interval.
    week, prev = "2026-W13", briefs["2026-W12"]
    sec = briefs[week]["topics"]["security"]
    assert sec["previous_week"]["change_share_corrected"] == pytest.approx(
        sec["share_corrected"] - prev["topics"]["security"]["share_corrected"], abs=2e-4)
    page = (out / week / "report.html").read_text(encoding="utf-8")
    from pipeline.report import corrected_points

    assert f"<td>{corrected_points(sec['previous_week'], '')}</td>" in page
    assert "vs previous week, corrected: pts (95 % interval)" in page
    assert "corrected share against the 8-week mean" in page


def _as_schema_4(summary: dict) -> dict:
    """A brief as a version before corrected changes froze it (schema 4): no change_share_corrected,
    change_ci_low or change_ci_high, movers ranked by the change as tagged."""
    old = json.loads(json.dumps(summary))
    old["schema_version"] = 4
    for v in old["topics"].values():
        for against in ("previous_week", "previous_8_weeks_mean"):
            for key in ("change_share_corrected", "change_ci_low", "change_ci_high"):
                del v[against][key]
    old.pop("movers_ranked_by")
    old["movers"] = [{k: m[k] for k in ("topic", "change_share_vs_8_week_mean", "change_count_vs_previous_week")}
                     for m in old["movers"]]
    return old


def test_a_schema_4_brief_still_renders_on_the_weekly_page_and_in_report_html(seed_store_copy, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from pipeline import report, settings

    store_dir = str(seed_store_copy)
    folder = snapshot.write_week(store_dir, settings.snapshots_dir(store_dir), "2026-W13")
    old = _as_schema_4(_summary(folder))
    (folder / "summary.json").write_text(json.dumps(old, indent=2), encoding="utf-8")
    page = report.render_html(old)
    sec = old["topics"]["security"]
    assert "<td>security</td><td>—</td><td>—</td>" in page  # no corrected change: dashes
    assert f"({report.points(sec['previous_week']['change_share'])})</td>" in page  # as tagged, as before
    assert "share as tagged against the 8-week mean" in page
    assert "frozen before briefs carried them (schema 5)" in page
    monkeypatch.setenv("TOPICS_STORE", store_dir)
    monkeypatch.delenv("TOPICS_SNAPSHOTS", raising=False)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.query_params["week"] = "2026-W13"
    at.run()
    at.switch_page("views/weekly.py").run()
    assert not at.exception, at.exception
    assert any("frozen snapshot" in c.value for c in at.caption)
    moves = at.dataframe[1].value.merge(at.dataframe[2].value, on="topic").set_index("topic")
    assert set(moves["vs previous week (pts, corrected, 95 % interval)"]) == {"—"}
    assert set(moves["vs 8-week mean (pts, corrected, 95 % interval)"]) == {"—"}
    assert moves.loc["security", "vs previous week (pts, as tagged)"] == \
        f"{sec['previous_week']['change_share'] * 100:+.1f}"
    assert any("frozen before briefs carried them (schema 5)" in c.value for c in at.caption)


def test_numbers_without_an_audit_sample_have_no_corrected_changes_and_say_why(seed_store):
    """The live week's numbers without an audit sample (``compute`` without extras): the corrected
    changes are null, movers rank by the change as tagged, and the note says why."""
    from pipeline import report

    conn = store.open_readonly(seed_store)
    try:
        s = snapshot.compute(conn, "2026-W13")
    finally:
        conn.close()
    for v in s["topics"].values():
        for against in ("previous_week", "previous_8_weeks_mean"):
            assert v[against]["change_share"] is not None
            assert v[against]["change_share_corrected"] is v[against]["change_ci_low"] is None
            assert report.corrected_points(v[against]) == "—"
    assert s["movers_ranked_by"] == "change_share"
    ranked = [abs(m["change_share_vs_8_week_mean"]) for m in s["movers"]]
    assert ranked == sorted(ranked, reverse=True)
    assert report.changes_note(s) == "Changes of share as tagged only (no corrected changes: no audit sample)."
    assert "(share as tagged against the 8-week mean)" in report.movers_text(s)


def test_changes_that_round_to_zero_keep_their_direction_or_show_no_sign():
    # "-0.0" and "+0.0" read as a direction and a size of nothing: a change or bound that rounds to
    # zero at one decimal shows one more ("-0.04"), and a true nothing shows "0.0" without a sign.
    from pipeline.display import signed
    from pipeline.report import corrected_points, points

    assert [signed(x) for x in (1.26, -1.24, -0.04, 0.04, -0.004, 0.0, -0.0)] == \
        ["+1.3", "-1.2", "-0.04", "+0.04", "0.0", "0.0", "0.0"]
    assert points(-0.0004) == "-0.04 pts" and points(0.0) == "0.0 pts"
    assert corrected_points({"change_share_corrected": -0.0042, "change_ci_low": -0.0081,
                             "change_ci_high": -0.0004}, "") == "-0.4 (-0.8 to -0.04)"


def test_a_weeks_corrected_interval_is_the_same_in_every_brief_and_in_trend(seed_store, tmp_path):
    """QA: a week's corrected interval depended on the dates computed with it (the bootstrap drew
    each period's sampling noise by its place in the query): the brief of 2026-W11 gave a week an
    interval that the week's own brief and `trend --corrected` did not, so a reader checking a
    cited interval found another one. A period's draws now depend on the period and its source
    only: the same week has the same interval in every brief and in every trend that holds it."""
    out = tmp_path / "snaps"
    own = _summary(snapshot.write_week(str(seed_store), out, "2026-W10"))
    later = _summary(snapshot.write_week(str(seed_store), out, "2026-W11"))
    r = run_cli("trend", "--store", str(seed_store), "--by", "week", "--corrected", "--json",
                "--since", "2026-01-01", "--until", "2026-03-15")
    assert r.returncode == 0, r.stderr
    trend = {(row["period"], row["topic"]): row for row in json.loads(r.stdout)}
    for t, v in own["topics"].items():
        cited = (v["share_corrected"], v["ci_low"], v["ci_high"])
        assert v["ci_low"] < v["ci_high"]
        again = next(h for h in later["history"] if h["week"] == "2026-W10" and h["topic"] == t)
        assert (again["share_corrected"], again["ci_low"], again["ci_high"]) == cited, t
        row = trend[("2026-03-02", t)]
        # `trend --json` rounds to 5 places, the brief to 4: the same number, rounded twice.
        assert [row[k] for k in ("share_corrected", "ci_low", "ci_high")] == pytest.approx(cited, abs=6e-5), t


def test_a_spikes_statement_cut_short_in_report_html_says_so(seed_store, tmp_path):
    """QA: report.html showed the start of a long statement of a spike (300 characters, cut inside
    a word: "... on synthetic d (White House, 2023-04-14)") as if it were the whole statement, where
    the `events` command and the Events page mark the cut. A cut statement now ends at a word with
    an ellipsis; a short one is shown whole, without one."""
    import html

    from pipeline.display import readable

    folder = snapshot.write_week(str(seed_store), tmp_path / "snaps", "2025-W20")  # the seeds' spike
    s = _summary(folder)
    page = (folder / "report.html").read_text(encoding="utf-8")
    shown = [readable(q["text"]) for ev in s["events"] for q in ev["statements"][:3]]
    assert any(len(t) > 300 for t in shown) and any(len(t) <= 300 for t in shown)
    for text in shown:
        if len(text) <= 300:
            assert f"<li>{html.escape(text)} <span class='who'>" in page
        else:
            cut = text[:300].rsplit(" ", 1)[0]
            assert f"<li>{html.escape(cut)} … <span class='who'>" in page
            assert f"{html.escape(text[:300])} <span class='who'>" not in page


def test_report_html_writes_its_counts_with_thousands_separators(seed_store, tmp_path):
    """QA: report.html's header said "6 documents · 2019 statements" (and "measured on 4000 audit
    statements"), which reads as statements of 2019, while its own citation says "2,019 statements".
    Counts of a thousand or more carry separators, as in the citation."""
    folder = snapshot.write_week(str(seed_store), tmp_path / "snaps", "2026-W03")
    s = _summary(folder)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert s["statements"] >= 1000
    assert f"· {s['statements']:,} statements</p>" in page and f"{s['statements']} statements" not in page
    assert f"measured on {s['correction']['audit_statements']:,} audit statements" in page


def test_report_html_tells_its_reader_how_to_check_the_brief(seed_store, tmp_path):
    """QA: report.html cited its summary.json's SHA-256 but said nothing of what to do with it (the
    Weekly page says `sha256sum summary.json`), nor where the statements behind its counts are: a
    reader holding the page alone could not check it. It now says both."""
    import hashlib
    import subprocess

    folder = snapshot.write_week(str(seed_store), tmp_path / "snaps", "2026-W03")
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<code>sha256sum summary.json</code>" in page and "<code>statements.csv</code>" in page
    # Doing as told gives the digest the page cites.
    digest = subprocess.run(["sha256sum", "summary.json"], cwd=folder, capture_output=True, text=True).stdout.split()[0]
    assert digest == hashlib.sha256((folder / "summary.json").read_bytes()).hexdigest() and f"SHA-256 {digest}" in page


def _briefs(folder: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(folder.glob("*/summary.json")):
        s = json.loads(p.read_text())
        s.pop("made_at")
        out[p.parent.name] = {"summary": s, "csv": (p.parent / "statements.csv").read_bytes(),
                              "html": (p.parent / "report.html").read_text().count("<tr")}
    return out


def test_briefs_with_the_extras_computed_ahead_are_the_briefs_computed_after(seed_store, tmp_path):
    """What a cold run computes in a thread while it builds its indexes (corrected shares, events)
    gives the same briefs as computing it when they are written; it is used only for the weeks it
    was computed for."""
    ahead = snapshot.ExtrasAhead(str(seed_store), tmp_path / "a")
    ahead.start()
    conn = store.open_readonly(seed_store)
    todo = snapshot.completed_weeks(conn)
    conn.close()
    assert len(todo) > 20
    counted = ahead.result(todo)
    assert counted is not None and counted["corrected"] and counted["unexplained"]
    assert ahead.result(todo[1:]) is None  # computed for other weeks: not taken
    with_ahead = snapshot.write_all(str(seed_store), tmp_path / "a", ahead=ahead)
    without = snapshot.write_all(str(seed_store), tmp_path / "b")
    assert len(with_ahead) == len(without) == len(todo)
    a, b = _briefs(tmp_path / "a"), _briefs(tmp_path / "b")
    assert a == b
    assert sum(len(x["summary"].get("events") or []) for x in a.values()) > 0  # events were explained in both


def test_a_cold_run_writes_the_briefs_a_later_snapshot_would(tmp_path):
    """`run` into an empty store (indexes built at the end, the briefs' extras computed meanwhile)
    writes the same briefs as `snapshot --all` on the finished store."""
    store_dir = tmp_path / "store"
    r = run_cli("run", "--input", str(ROOT / "seeds"), "--store", str(store_dir))
    assert r.returncode == 0, r.stderr
    r = run_cli("snapshot", "--all", "--store", str(store_dir), "--out", str(tmp_path / "again"))
    assert r.returncode == 0, r.stderr
    ran, again = _briefs(store_dir / "snapshots"), _briefs(tmp_path / "again")
    assert len(ran) > 20 and ran == again
