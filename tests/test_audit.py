"""The audit sample, the score sums kept by the store, and corrected trends on real stores."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline import audit, correction, queries, store
from tests.conftest import SEEDS, SHARED, run_cli

TOPICS = {"security", "trade", "migration", "sovereignty"}


def _rows() -> list[dict]:
    return [json.loads(x) for x in audit.SAMPLE_FILE.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_audit_sample_is_random_recorded_and_disjoint_from_every_training_file():
    rows = _rows()
    assert len(rows) >= 2000
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["statement_id"] for r in rows}) == len(rows)
    assert {r["lang"] for r in rows} == {"es", "en"}
    labelled = audit.training_keys(audit.label_files())
    dev = SHARED / "labels" / "dev.jsonl"
    if dev.exists():
        labelled |= audit.training_keys([dev])
    assert not [r["id"] for r in rows if audit.text_key(r["text"]) in labelled]
    # Two coders for every statement (a third where they disagreed), topics from the codebook.
    for r in rows:
        assert "coder-a" in r["labeller"] and "coder-b" in r["labeller"], r["id"]
        assert set(r["topics"]) <= TOPICS
    # The frame: the seed of every round and, per stratum, its size and how many were drawn.
    frame = json.loads(audit.FRAME_FILE.read_text(encoding="utf-8"))
    assert frame["stratified_by"] == ["source", "year"]
    assert all(isinstance(r["seed"], int) for r in frame["rounds"])
    drawn = Counter((r["source"], r["date"][:4]) for r in rows)
    assert {(s["source"], s["year"]): s["drawn"] for s in frame["strata"] if s["drawn"]} == dict(drawn)
    assert all(s["frame"] <= s["population"] for s in frame["strata"])


def _sums_by_sql(conn: sqlite3.Connection) -> dict:
    """The score sums recomputed from the statements (labels where known), to compare with the store's."""
    out = {}
    bits = store.topic_bits(conn)
    for day, src, lang, role, gold, scores in conn.execute(
            "SELECT day, source, lang, role, gold_mask, scores FROM statements"):
        for t, v in json.loads(scores).items():
            if gold is not None:
                v = float((gold >> bits[t]) & 1)
            acc = out.setdefault((day, src, lang, role, int(gold is not None), t), [0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += v
            acc[2] += v * v
    return out


def _kept(conn: sqlite3.Connection) -> dict:
    return {r[:6]: list(r[6:]) for r in conn.execute(
        "SELECT day, source, lang, role, labelled, topic, n, s1, s2 FROM daily_scores")}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k][0] == b[k][0] and abs(a[k][1] - b[k][1]) < 1e-6 and abs(a[k][2] - b[k][2]) < 1e-6 for k in a)


def test_score_sums_follow_every_write(seed_store_copy, tmp_path):
    conn = store.open_store(seed_store_copy)
    assert _same(_kept(conn), _sums_by_sql(conn))
    # Statements of the labelled set count their label: the seed conferences hold some of its texts.
    n_gold = conn.execute("SELECT COUNT(*) FROM statements WHERE gold_mask IS NOT NULL").fetchone()[0]
    assert n_gold > 100
    labelled = conn.execute("SELECT SUM(n) FROM daily_scores WHERE labelled = 1 AND topic = 'trade'").fetchone()[0]
    assert labelled == n_gold
    conn.close()
    # A changed file replaces its statements; a re-tag (another model's rows) rewrites scores.
    folder = tmp_path / "in"
    folder.mkdir()
    src = sorted((SEEDS / "mananeras").rglob("*.txt"))[0]
    (folder / src.name).write_bytes(src.read_bytes())
    assert run_cli("run", "--input", str(folder), "--store", str(seed_store_copy), "--no-snapshots").returncode == 0
    (folder / src.name).write_bytes(src.read_bytes().replace(b"seguridad", b"aranceles"))
    assert run_cli("run", "--input", str(folder), "--store", str(seed_store_copy), "--no-snapshots").returncode == 0
    conn = store.open_store(seed_store_copy)
    with store.transaction(conn):
        conn.execute("UPDATE statements SET model_version = 'older' WHERE sid % 7 = 0")
    conn.close()
    r = run_cli("run", "--input", str(folder), "--store", str(seed_store_copy), "--no-snapshots", "--json")
    assert json.loads(r.stdout)["statements_retagged"] > 1000
    conn = store.open_store(seed_store_copy)
    assert _same(_kept(conn), _sums_by_sql(conn))
    # A store written before the sums were kept gets them on open.
    with store.transaction(conn):
        conn.execute("DELETE FROM daily_scores")
    conn.close()
    conn = store.open_store(seed_store_copy)
    assert _same(_kept(conn), _sums_by_sql(conn))


def test_weekly_and_monthly_corrected_shares_pool_statements(seed_store):
    from pipeline.tagger import load_model

    model = load_model(str(Path(__file__).resolve().parent.parent / "pipeline/models/tagger.skops"))
    au = audit.load(model)
    conn = store.open_readonly(seed_store)
    for g in ("week", "month"):
        df = queries.corrected_trend(conn, queries.Filters(), au, g)
        has = df[df["total"] > 0]
        assert has["share_corrected"].notna().all()
        assert (has["ci_low"] <= has["share_corrected"] + 1e-12).all()
        assert (has["share_corrected"] <= has["ci_high"] + 1e-12).all()
        assert ((has["ci_high"] - has["ci_low"]) > 0).mean() > 0.9
        # The statements behind each period's correction are the period's statements.
        sums = queries.score_sums(conn, queries.Filters(), g)
        per = sums[sums["topic"] == "trade"].groupby("period")["n"].sum()
        totals = has.drop_duplicates("period").set_index("period")["total"]
        assert per.rename(index=store.from_day).reindex(totals.index).tolist() == totals.tolist()
    # A month's correction is that of its pooled statements, not a mean of its weeks.
    month = queries.corrected_trend(conn, queries.Filters(), au, "month")
    row = month[(month["topic"] == "security") & (month["total"] > 0)].iloc[0]
    sums = queries.score_sums(conn, queries.Filters(), "month")
    cell = sums[(sums["topic"] == "security") & (sums["period"] == store.day_number(row["period"]))]
    rates = au.rates("security")
    strata = [correction.exact_rates(s) if s == queries.LABELLED else rates.get(s, rates[correction.POOLED])
              for s in cell["stratum"]]
    p = correction.adjust(cell["s1"] / cell["n"], [r.t for r in strata], [r.f for r in strata])
    assert row["share_corrected"] == pytest.approx(float((np.asarray(p) * cell["n"]).sum() / cell["n"].sum()))
    # A text filter corrects the matching statements only.
    searched = queries.corrected_trend(conn, queries.Filters(search="aranceles"), au, "month")
    assert searched["total"].sum() < month.drop_duplicates("period")["total"].sum()
    assert searched[searched["total"] > 0]["share_corrected"].notna().all()


def test_trend_and_reliability_commands(seed_store):
    r = run_cli("trend", "--store", str(seed_store), "--by", "month", "--topic", "trade", "--corrected", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and set(rows[0]) == {"period", "topic", "count", "total", "share", "share_corrected", "ci_low",
                                     "ci_high"}
    assert {x["topic"] for x in rows} == {"trade"}
    full = [x for x in rows if x["total"]]
    assert all(x["ci_low"] <= x["share_corrected"] <= x["ci_high"] for x in full)
    plain = json.loads(run_cli("trend", "--store", str(seed_store), "--by", "month", "--json").stdout)
    assert all(x["share_corrected"] is None for x in plain)
    bad = run_cli("trend", "--store", str(seed_store), "--topic", "weather")
    assert bad.returncode == 2 and "'weather' not in the store" in bad.stderr
    r = run_cli("reliability", "--store", str(seed_store), "--json")
    assert r.returncode == 0, r.stderr
    card = json.loads(r.stdout)
    assert set(card["topics"]) == TOPICS
    sec = card["topics"]["security"]
    assert sec["f1"]["low"] < sec["f1"]["value"] < sec["f1"]["high"]
    assert sec["audit_positives"] >= 100 and sec["t"] - sec["f"] > 0.3
    assert card["drift"] and all({"quarter", "source", "topics", "unseen_words"} <= set(d) for d in card["drift"])
    assert all(v["psi"] >= 0 for d in card["drift"] for v in d["topics"].values())
    text = run_cli("reliability", "--store", str(seed_store)).stdout
    assert "security" in text and "drift:" in text


def test_reliability_text_card_has_per_source_rates_and_the_last_audit():
    """What the README lists for the card, in the text as in --json: t̂ and f̂ per source (marking
    a source whose t̂ is the pooled one) and the date of the last audit."""
    card = json.loads(run_cli("reliability", "--no-drift", "--json").stdout)
    r = run_cli("reliability", "--no-drift")
    assert r.returncode == 0, r.stderr
    assert card["last_audit"] and f"last audit {card['last_audit']}" in r.stdout.splitlines()[0]
    lines = r.stdout.splitlines()
    for topic, c in card["topics"].items():
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == [topic])
        # The line under the topic's: t̂, f̂ and t̂ - f̂ of all sources with their 95 % intervals.
        ri = c["rate_intervals"]
        assert lines[at + 1] == "    " + ", ".join(
            f"{name} {ri[k]['value']:.3f} ({ri[k]['low']:.3f}-{ri[k]['high']:.3f})"
            for name, k in (("t̂", "t"), ("f̂", "f"), ("t̂ - f̂", "separation"))) + " (all sources, 95% intervals)"
        assert ri["t"]["value"] == c["t"] and ri["f"]["value"] == c["f"]
        for k in ("t", "f", "separation"):
            assert ri[k]["low"] < ri[k]["value"] < ri[k]["high"], (topic, k, ri[k])
        per_source = lines[at + 2]
        assert per_source.startswith("    t̂ / f̂ per source: "), per_source
        for source, rates in c["rates"].items():
            if source == "(all sources)":
                continue
            t_i, f_i = rates["intervals"]["t"], rates["intervals"]["f"]
            assert t_i["value"] == rates["t"] and f_i["value"] == rates["f"]
            said = (f"{source} {t_i['value']:.3f} ({t_i['low']:.3f}-{t_i['high']:.3f}) / "
                    f"{f_i['value']:.3f} ({f_i['low']:.3f}-{f_i['high']:.3f}) ({rates['positives']} positives")
            assert said + ("; t̂ of all sources)" if rates["pooled"] else ")") in per_source, (said, per_source)
    assert any(r["pooled"] for c in card["topics"].values() for r in c["rates"].values())  # the mark is tested


def test_reliability_card_shows_the_coders_agreement_of_the_frame():
    """frame.json's agreement of the two coders before adjudication, every round and language with
    the statements it is over, in the text card and in --json."""
    frame = json.loads(audit.FRAME_FILE.read_text(encoding="utf-8"))
    r = run_cli("reliability", "--no-drift")
    assert r.returncode == 0, r.stderr
    assert "coders' agreement before adjudication (Cohen's kappa" in r.stdout
    names = {"es": "Spanish", "en": "English"}
    for i, by_lang in enumerate(frame["agreement"]):
        for lang, v in by_lang.items():
            rows = audit.coder_agreement(frame)
            ivs = next(a for a in rows if a["round"] == i + 1 and a["language"] == names[lang])["intervals"]
            line = f"  round {i + 1}, {names[lang]} ({v['n']:,} statements): " + ", ".join(
                f"{t} {v[t]:.3f}" + (f" ({ivs[t]['low']:.3f}-{ivs[t]['high']:.3f})" if "pos" in v else "")
                for t in ("security", "trade", "migration", "sovereignty"))
            assert line in r.stdout.splitlines(), line
    card = json.loads(run_cli("reliability", "--no-drift", "--json").stdout)
    assert card["agreement"] == audit.coder_agreement(frame) and len(card["agreement"]) == 4
    english = card["agreement"][1]
    assert {k: english[k] for k in ("round", "language", "statements", "kappa")} == {
        "round": 1, "language": "English", "statements": 1000,
        "kappa": {"security": 0.944, "trade": 0.983, "migration": 0.97, "sovereignty": 0.923}}
    # Round 1 records the coders' positives: with the kappa they give the disagreements, and an interval.
    assert english["positives"]["sovereignty"] == [6, 7] and english["disagreements"]["sovereignty"] == 1
    assert all(iv["low"] < english["kappa"][t] <= iv["high"] for t, iv in english["intervals"].items())
    assert card["agreement"][2]["intervals"] == {}  # round 2 records the kappas only


def test_the_recorded_coder_agreement_is_cohens_kappa():
    """The card calls frame.json's agreement Cohen's kappa: round 1 records each coder's positives,
    and with them every stored value is the kappa of a whole number of disagreements out of 1,000
    (the share of statements agreed on would be 0.987-1.000, not 0.923-1.000)."""
    frame = json.loads(audit.FRAME_FILE.read_text(encoding="utf-8"))
    checked = 0
    for v in frame["agreement"][0].values():
        n = v["n"]
        for topic, (a, b) in v["pos"].items():
            chance = (a * b + (n - a) * (n - b)) / n**2
            # Disagreements differ from |a - b| by an even number.
            fits = [d for d in range(abs(a - b), 100, 2) if round((1 - d / n - chance) / (1 - chance), 3) == v[topic]]
            assert len(fits) == 1, (topic, v[topic], fits)
            assert audit.kappa_counts(n, a, b, v[topic]) == fits[0]
            checked += 1
    assert checked == 8


def test_corrected_shares_warn_when_the_store_was_tagged_by_another_model(seed_store_copy, monkeypatch):
    """The audit's rates correct the scores of the model measured on the audit sample. A store
    tagged (in part) by another model gets a warning naming it and how many statements it tagged,
    on the command line and on the dashboard; a store tagged by the audit's model gets none."""
    from streamlit.testing.v1 import AppTest

    from dashboard import data

    assert audit.model_mismatch("m1", {"m1": 10}) is None
    note = audit.model_mismatch("m1", {"m1": 7, "old": 3})
    assert note.startswith("3 of 10 statements were tagged by another model than m1") and "old (3)" in note

    args = ("trend", "--store", str(seed_store_copy), "--by", "month", "--topic", "trade", "--corrected")
    r = run_cli(*args)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    with sqlite3.connect(store.db_path(seed_store_copy)) as c:
        moved = c.execute("UPDATE statements SET model_version = 'older0model1' WHERE date < '2026-01-15'").rowcount
        total = c.execute("SELECT COUNT(*) FROM statements").fetchone()[0]
    assert 0 < moved < total
    for cmd in (args, ("events", "--store", str(seed_store_copy))):
        r = run_cli(*cmd)
        assert r.returncode == 0, r.stderr
        assert f"warning: {moved:,} of {total:,} statements were tagged by another model than" in r.stderr
        assert f"older0model1 ({moved:,})" in r.stderr
    monkeypatch.setenv("TOPICS_STORE", str(seed_store_copy))
    data.facets.clear()
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["measure"] = "corrected"
    at.run()
    assert not at.exception, at.exception
    assert any(f"{moved:,} of {total:,} statements were tagged by another model" in w.value for w in at.warning)


def _coder_pairs(first: float, second: float, kappa: float, n: int, pairs: int, seed: int) -> np.ndarray:
    """``pairs`` 2x2 tables of two coders' yes/no over ``n`` statements, drawn from the cells whose
    coders say yes to shares ``first`` and ``second`` with the given (true) Cohen's kappa: rows of
    (yes/yes, yes/no, no/yes, no/no) counts."""
    chance = first * second + (1 - first) * (1 - second)
    agree = kappa * (1 - chance) + chance
    both = (agree - (1 - first - second)) / 2  # agreement = yes/yes + no/no, no/no = 1 - first - second + yes/yes
    cells = np.array([both, first - both, second - both, 1 - first - second + both])
    assert (cells >= 0).all(), cells
    return np.random.default_rng(seed).multinomial(n, cells, size=pairs)


@pytest.mark.parametrize("first,second,kappa", [(0.016, 0.016, 0.98), (0.006, 0.007, 0.92), (0.13, 0.13, 0.95),
                                                (0.10, 0.12, 0.80)])
def test_kappa_intervals_cover_the_coders_true_kappa(first, second, kappa):
    """Known truth for the coders' agreement: pairs of coders with a true kappa, on 1,000 statements
    as in frame.json (topics with 16, 6-7 and 130 positives, as the audit's; and a weaker pair). Over
    2,000 draws the 95 % interval holds the true kappa in 96.0 %, 95.1 %, 95.0 % and 95.2 % of them
    (bounds 92-99 %: a coverage's standard error at 2,000 draws is 0.5 points, the rest is the
    count's discreteness). The large-sample normal interval (Fleiss, Cohen and Everitt 1969) held it
    in 47 %, 65 %, 94 % and 95 %: at 16 positives and kappa 0.98 the coders mostly never disagree.
    Every drawn table's kappa, rounded to 3 places as frame.json stores it, gives back its number of
    disagreements when one count alone rounds to it."""
    n = 1000
    tables = _coder_pairs(first, second, kappa, n, 2000, seed=int(1000 * kappa))
    held = recovered = unique = 0
    for both, yes_no, no_yes, _ in tables:
        a, b, d = both + yes_no, both + no_yes, yes_no + no_yes
        if a + b == 0:  # neither coder saw the topic: kappa is undefined and nothing is shown
            continue
        low, high = audit.kappa_interval(n, a, b, d)
        held += low <= kappa <= high
        back = audit.kappa_counts(n, a, b, audit.cohens_kappa(n, a, b, d))
        unique += back is not None
        recovered += back == d
    assert 0.92 <= held / len(tables) <= 0.99, held / len(tables)
    assert recovered == unique > 0.9 * len(tables)
