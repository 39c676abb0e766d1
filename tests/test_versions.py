"""A new model's tags written beside the served ones and swapped in at once; two versions compared
(trend lines, flipped statements, evaluation scores) in the store and on the Model versions page."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pipeline import labelling
from pipeline import store as st
from pipeline.tagger import DEFAULT_MODEL, _load_skops, load_model, save_model
from tests.conftest import ROOT, SEED_FILE, run_cli


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """A second model version: the shipped one with a lower trade threshold (more statements on trade)."""
    est = _load_skops(DEFAULT_MODEL, DEFAULT_MODEL.read_bytes())
    est.thresholds_ = np.array(est.thresholds_, dtype=float)
    est.thresholds_[list(est.topic_names_).index("trade")] = 0.15
    path = tmp_path_factory.mktemp("model2") / "tagger.skops"
    info = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    save_model(est, path, {k: v for k, v in info.items() if k != "version"})
    return path


def _served(conn) -> tuple[set, list]:
    return ({v for (v,) in conn.execute("SELECT DISTINCT model_version FROM statements")},
            conn.execute("SELECT topic_mask, SUM(n) FROM daily GROUP BY 1 ORDER BY 1").fetchall())


def test_retag_serves_old_tags_until_the_new_ones_are_complete(seed_store_copy, other_model):
    store = seed_store_copy
    old = load_model(str(DEFAULT_MODEL)).version
    new = load_model(str(other_model)).version
    conn = st.open_readonly(store)
    served_before = _served(conn)
    conn.close()
    assert served_before[0] == {old}
    seen = []

    def check(done: int, total: int) -> None:
        # What a dashboard reading now sees: the old version's tags and counts, all of them.
        c = st.open_readonly(store)
        seen.append((done, total, _served(c) == served_before))
        c.close()

    labelling.RETAG_BATCH = 2000
    res = labelling.retag_beside(store, other_model, progress=check)
    assert res["version"] == new and res["previous"] == [old]
    assert len(seen) >= 2 and all(ok for _, _, ok in seen), seen
    conn = st.open_readonly(store)
    served, daily = _served(conn)
    assert served == {new}
    # The counts follow the new tags, recounted in the same transaction.
    bit = st.topic_bits(conn)["trade"]
    trade_now = conn.execute(f"SELECT COUNT(*) FROM statements WHERE (topic_mask >> {bit}) & 1").fetchone()[0]
    assert sum(n for m, n in daily if (m >> bit) & 1) == trade_now
    rows, total = labelling.flipped(conn, old, new, topic="trade")
    assert total > 0 and {r["change"] for r in rows} == {"added"}
    assert trade_now - sum(n for m, n in served_before[1] if (m >> bit) & 1) == total
    trend = labelling.compare_trend(conn, old, new, "month")
    by_version = {v: sum(r["count"] for r in trend if r["version"] == v and r["topic"] == "trade") for v in (old, new)}
    assert by_version[new] - by_version[old] == total
    assert [v["version"] for v in labelling.versions(conn)][:2] == [new, old]
    conn.close()


def test_the_versions_page_compares_two_versions(seed_store_copy, other_model, tmp_path, monkeypatch):
    store = seed_store_copy
    labelling.retag_beside(store, other_model)
    # Both versions scored on the same evaluation set (here: 300 labelled statements).
    from pipeline.settings import LABELS_DIR
    from pipeline.tagger.train import label_files, load_labelled

    gold = tmp_path / "gold.jsonl"
    labelling.write_label_file(load_labelled(label_files(LABELS_DIR))[:300], gold)
    old_rep = labelling.evaluate_version(store, DEFAULT_MODEL, gold)
    new_rep = labelling.evaluate_version(store, other_model, gold)
    assert old_rep["all"]["topics"]["trade"] != new_rep["all"]["topics"]["trade"]
    monkeypatch.setenv("TOPICS_STORE", str(store))
    from dashboard import data

    data.facets.clear()
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    at.switch_page("views/versions.py").run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"]) == 8  # four topics, two versions each
    captions = " ".join(c.value for c in at.caption)
    assert " flips (statement and topic) from " in captions
    assert len(at.dataframe) == 2  # the evaluation scores, and the change from one version to the other
    old_v, new_v = load_model(str(DEFAULT_MODEL)).version, load_model(str(other_model)).version
    scores = at.dataframe[0].value
    for _, row in scores.iterrows():  # every F1 with its interval
        lo, hi = (float(x) for x in row["macro F1, 95 % interval"].split(" to "))
        assert lo <= row["macro F1"] <= hi, row  # (zero width here: this set is training data)
    change = at.dataframe[1].value.set_index("language")
    # Statement by statement: only trade's threshold differs, so only trade's F1 can move.
    trade = round(new_rep["all"]["topics"]["trade"]["f1"] - old_rep["all"]["topics"]["trade"]["f1"], 3)
    assert abs(change.loc["all", "trade change"] - trade) < 0.0015 and trade != 0
    lo, hi = (float(x) for x in change.loc["all", "trade, 95 % interval"].split(" to "))
    assert lo <= change.loc["all", "trade change"] <= hi
    for t in ("security", "migration", "sovereignty"):
        assert change.loc["all", f"{t} change"] == 0 and change.loc["all", f"{t}, 95 % interval"] == "+0.000 to +0.000"
    verdict = " ".join(c.value for c in at.caption)
    word = "better" if lo > 0 and change.loc["all", "macro F1 change"] > 0 else None
    assert f"{new_v}" in verdict and ("cannot be told apart" in verdict or "better" in verdict or "worse" in verdict)
    if word:
        assert "better" in verdict
    assert " added" in " ".join(m.value for m in at.markdown)
    at.selectbox(key="v_topic").select("migration").run()
    assert "0 flips" in " ".join(c.value for c in at.caption)
    scores = at.dataframe[0].value
    assert set(scores["version"]) == {old_v, new_v}


@pytest.fixture(scope="module")
def run_retagged(other_model, tmp_path_factory):
    """A store of one conference tagged by the shipped model, then re-tagged by ``run`` with another
    (TOPICS_MODEL): two models have tagged it, and a run added nothing and re-tagged every statement."""
    store_dir = tmp_path_factory.mktemp("runretag") / "store"
    assert run_cli("run", "--input", str(SEED_FILE), "--store", str(store_dir), "--no-snapshots").returncode == 0
    r = run_cli("run", "--input", str(SEED_FILE), "--store", str(store_dir), "--no-snapshots", "--json",
                env={"TOPICS_MODEL": str(other_model)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["statements_retagged"] > 0
    return store_dir


def _page(store_dir, page: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOPICS_STORE", str(store_dir))
    from dashboard import data

    data.facets.clear()
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_the_versions_page_says_why_two_models_are_not_two_versions_to_compare(run_retagged, monkeypatch):
    """QA: the page said "Before/after needs two model versions in the store" while the Store page
    listed two models. Before/after needs the tags of two versions kept side by side, which a retrain
    keeps and a re-tag by run does not: the page says that, and how many of each the store has."""
    at = _page(run_retagged, "views/versions.py", monkeypatch)
    models = at.switch_page("views/status.py").run().dataframe[3].value
    assert len(models) == 2
    at.switch_page("views/versions.py").run()
    info = " ".join(i.value for i in at.info)
    assert "holds only the tags it serves" in info and "The Store page lists 2 models" in info
    assert "`python -m pipeline run` with another model replaces the old tags" in info


def test_the_store_page_shows_what_a_run_re_tagged(run_retagged, monkeypatch):
    """QA: a run that re-tagged all 676,172 statements under another model showed as "0 statements
    added". The run log gives the re-tagged statements and the model, beside those added."""
    import sqlite3

    from pipeline import store

    with sqlite3.connect(store.db_path(run_retagged)) as c:
        n, model = c.execute("SELECT statements_retagged, model_version FROM runs ORDER BY run_id DESC").fetchone()
    at = _page(run_retagged, "views/status.py", monkeypatch)
    runs = [m.value for m in at.markdown if m.value.startswith("**Run ")]
    assert f"0 statements added, {n:,} re-tagged by model {model}" in runs[0]
    assert "re-tagged" not in runs[1]  # the first run only added
    # The Models table says which model's tags the statements carry now: all the re-tagging one's.
    models = at.dataframe[3].value
    now = dict(zip(models["version"], models["statements tagged now"]))
    total = sum(now.values())
    assert now[model] == total == n and len(now) == 2 and sorted(now.values()) == [0, n]
