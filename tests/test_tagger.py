"""The tagger on the seed, on its Spanish original, through the CLI, and against the gold labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skops.io as sio

from pipeline.errors import ModelError
from pipeline.readers import read_path
from pipeline.segment import segment
from pipeline.tagger import DEFAULT_MODEL, load_model
from pipeline.tagger.topics import DEFAULT_TOPICS, load_topics
from tests.conftest import CONF_0112, SEED_FILE, SHARED, need_corpus, run_cli

SEED_EXPECTED = {
    "the trafficking of fentanyl from Mexico to the United States has been reduced": {"security"},
    "there is the sovereignty and territorial integrity of Mexico": {"sovereignty"},
    "there are other pending issues, such as trade": {"trade"},
    "the issue of Mexicans in the United States as well": {"migration"},
}
# The same four paragraphs in the Spanish original (the 2026-01-12 conference).
SPANISH_EXPECTED = {
    "se ha reducido 50 por ciento el cruce de fentanilo": {"security"},
    "está la soberanía de México y la integridad territorial": {"sovereignty"},
    "hay otros temas pendientes, como el tema del comercio": {"trade"},
    "el tema de las mexicanas y los mexicanos allá": {"migration"},
}


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL)


def _tags_for(model, path, expected):
    stmts = segment(read_path(path).documents[0])
    found = {}
    for key in expected:
        (s,) = [s for s in stmts if key in s.text]
        found[key] = set(model.tag([s.text])[0].topics)
    return found


def _labelled_sample(seed: int, n: int) -> list[dict]:
    """n statements of the shipped labelled set, drawn with a fixed seed."""
    import random

    from pipeline.settings import LABELS_DIR
    from pipeline.tagger.train import label_files, load_labelled

    return random.Random(seed).sample(load_labelled(label_files(LABELS_DIR)), n)


def _labels_dir(tmp_path, rows: list[dict]):
    """A labels folder holding ``rows`` as one JSON Lines file (what a user's labels look like)."""
    labels = tmp_path / "labels"
    labels.mkdir(exist_ok=True)
    (labels / "sample.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return labels


def _evaluate_labels(labels, *args: str) -> dict:
    """`evaluate ... --labels DIR --json`, checked to succeed; its parsed report."""
    r = run_cli("evaluate", *args, "--labels", str(labels), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _assert_supports(res: dict, rows: list[dict]) -> None:
    """The report counted, for every topic, the positives the measured statements have."""
    for t, s in res["model_scores"]["all"]["topics"].items():
        assert s["support"] == sum(t in x["topics"] for x in rows), t


def test_seed_paragraphs_get_the_codebook_topics(model):
    assert _tags_for(model, SEED_FILE, SEED_EXPECTED) == SEED_EXPECTED


def test_spanish_originals_get_the_same_topics(model):
    assert _tags_for(model, CONF_0112, SPANISH_EXPECTED) == SPANISH_EXPECTED


def test_traps_of_the_codebook(model):
    texts = ["El IMSS va a ampliar la seguridad social a los trabajadores de plataformas.",
             "¿Cómo están? Buenos días.",
             "Se revisará el T-MEC en 2026 y vamos a defender a los productores de acero.",
             "Acordamos que no habrá presencia de tropas extranjeras; la colaboración es sin subordinación."]
    tags = [set(t.topics) for t in model.tag(texts)]
    assert tags[0] == set() and tags[1] == set()
    assert tags[2] == {"trade"}
    assert {"sovereignty"} <= tags[3]


def test_scores_are_probabilities_for_every_topic(model):
    (t,) = model.tag(["Tariffs on Mexican steel and the USMCA review."])
    assert set(t.scores) == set(model.topics)
    assert all(0.0 <= p <= 1.0 for p in t.scores.values())
    assert t.scores["trade"] > 0.5 > t.scores["migration"]


# Real statements of the mañaneras (2021-11-30, 2022-12-30, 2024-04-17, 2025-06-30) whose score for
# a topic lies within 0.00005 below its threshold: stored to four places, it equals the threshold.
NEAR_THRESHOLD = [
    "En la Cuauhtémoc, 10 mil 899 policías; en la Venustiano Carranza, más de ocho mil; casi siete mil en "
    "Iztapalapa; en Gustavo A. Madero, casi seis mil; Iztacalco, casi llegando a los cinco mil. Entonces, "
    "tienen una presencia importante.",
    "La fiscalía y la Secretaría de Gobernación que, digamos, serían las instancias que pudieran brindarle "
    "este apoyo, pues no han actuado quizá con la rapidez que el caso lo amerite. Pero conocer cuál sería su "
    "postura en este sentido.",
    "Él dice que recibió una orden para asaltar la Embajada de México, y que lo volvería hacer, lo acaba de "
    "declarar, no sé si ustedes lo han visto. Por eso, frente a ese acto aberrante de prepotencia del "
    "presidente Noboa, anuncio, presidente López Obrador, presidenta Xiomara Castro, compatriotas "
    "latinoamericanos, caribeños de la Celac, que Venezuela he ordenado cerrar nuestra embajada en Ecuador, "
    "cerrar el consulado en Quito, cerrar de inmediato el consulado en Guayaquil, y que regrese el personal "
    "diplomático a Venezuela de inmediato.",
    "También se ilustrarán, en la base que sostiene al Teocalli de la Guerra Sagrada, que simboliza el "
    "simboliza el islote; y al mismo tiempo, el eje axial tierra-cielo-inframundo, rindiendo homenaje a 5 "
    "mujeres insignes y fundamentales para la historia mexica y la historia y la memoria de nuestra nación:",
]


def test_a_score_that_reaches_its_threshold_is_tagged(model):
    # A user checks a tag against the score beside it (CSV, Statements page, briefs): the tag must
    # follow the score as stored. Deciding on the unrounded score left these four untagged.
    thresholds = model.estimator.thresholds_
    raw = model.estimator.predict_proba(NEAR_THRESHOLD)
    assert ((raw < thresholds) & (np.round(raw, 4) >= thresholds)).any(axis=1).all()  # still the test's cases
    batch = model.tag_arrays(NEAR_THRESHOLD)
    assert (batch.hits == (batch.scores >= thresholds)).all()
    for tagged in model.tag(NEAR_THRESHOLD):
        assert set(tagged.topics) == {t for t, s in tagged.scores.items() if s >= thresholds[model.topics.index(t)]}


def test_explanations_name_words_of_the_statement(model):
    text = "The trafficking of fentanyl by the cartels must stop."
    terms = model.explain(text, "security")
    assert terms and any(w in text.lower() for w in terms)


def test_model_file_holds_only_trusted_types():
    untrusted = sio.get_untrusted_types(file=DEFAULT_MODEL)
    assert all(t.startswith(("sklearn.", "numpy.", "scipy.", "pipeline.tagger.", "builtins.")) for t in untrusted)


def test_a_model_file_with_foreign_types_is_refused(tmp_path):
    from pipeline.stages import Turn

    bad = tmp_path / "evil.skops"
    sio.dump({"x": Turn("someone", ("a paragraph",))}, bad)
    with pytest.raises(ModelError, match="untrusted"):
        load_model(bad)
    with pytest.raises(ModelError, match="no model file"):
        load_model(tmp_path / "missing.skops")


def test_model_topics_match_the_topics_file(model):
    topics, digest = load_topics()
    assert list(model.topics) == [t.name for t in topics]
    assert model.topics_hash == digest, "topics.toml changed since training: run `python -m pipeline train`"


def test_tag_command_jsonl_and_plain_lines(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "text": "Tariffs on steel imports from Mexico."}) + "\n"
                   + json.dumps({"id": 7, "text": "Buenos días a todos.", "lang": "es"}) + "\n")
    out = tmp_path / "out.jsonl"
    r = run_cli("tag", "--input", str(inp), "--output", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in rows] == ["a", 7]
    assert rows[0]["topics"] == ["trade"] and rows[1]["topics"] == []
    assert set(rows[0]["scores"]) == {"security", "trade", "migration", "sovereignty"}
    r = run_cli("tag", "--input", "-", "--output", "-", input="Deportations of migrants rose.\n")
    assert r.returncode == 0 and json.loads(r.stdout)["topics"] == ["migration"]


def test_tag_command_names_a_bad_line(tmp_path):
    inp = tmp_path / "in.jsonl"
    for bad, why in (('{"id": 2, "text": 5}', "'text' must be a string, not a number"),
                     ('{"id": [2], "text": ["a list"]}', "'text' must be a string, not an array"),
                     ('{"id": 2}', "a JSON object needs 'text'")):
        inp.write_text('{"id": 1, "text": "ok"}\n' + bad + "\n")
        r = run_cli("tag", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"))
        assert r.returncode == 2 and r.stderr.strip() == f"error: {inp}:2: {why}", r.stderr


def test_tag_command_takes_a_line_that_is_no_json_object_as_plain_text():
    lines = ["{curly braces} in a plain statement about tariffs on steel imports",
             '{"id": 2', "[1, 2]", '"a quoted line"',
             json.dumps({"id": "x", "text": "Deportations of migrants rose."})]
    r = run_cli("tag", "--input", "-", "--output", "-", input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in rows] == [1, 2, 3, 4, "x"]
    assert rows[0]["topics"] == ["trade"] and rows[4]["topics"] == ["migration"]


def test_evaluate_on_the_gold_labels_beats_keywords():
    need_corpus()
    gold = SHARED / "labels" / "dev.jsonl"
    r = run_cli("evaluate", "--gold", str(gold), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    # The targets (macro >= 0.85 in each language, every topic >= 0.75, a clear margin over
    # keywords); the shipped model measures es 0.874, en 0.872, all 0.873, lowest topic 0.769
    # (Spanish sovereignty: 12 statements, one statement moves it by about 0.04). The English
    # margin over keywords is +0.047: the +0.069 measured before included 14 evaluation
    # statements that were also in the training labels.
    floors = {"es": 0.85, "en": 0.85, "all": 0.85}
    for lang, floor in floors.items():
        m, k = res["model_scores"][lang], res["keyword_baseline"][lang]
        assert m["macro_f1"] >= floor, (lang, m["macro_f1"])
        assert m["macro_f1"] >= k["macro_f1"] + 0.04, (lang, m["macro_f1"], k["macro_f1"])
        # Each number with how far it can be read: hundreds of statements leave several points either way.
        ci = res["intervals"][lang]["macro"]
        assert abs(ci["f1"] - m["macro_f1"]) < 0.0015  # (the report averages rounded F1s)
        assert ci["low"] < ci["f1"] < ci["high"] and ci["high"] - ci["low"] > 0.04
        assert min(t["f1"] for t in m["topics"].values()) >= 0.75, (lang, m["topics"])
        assert all(v["f1"] >= 0.82 for t, v in m["topics"].items() if t != "sovereignty"), (lang, m["topics"])
    assert len(res["confident_errors"]) == 10


def test_training_never_sees_the_evaluation_set():
    need_corpus()
    from pipeline.audit import text_key
    from pipeline.settings import LABELS_DIR
    from pipeline.tagger.train import label_files, load_labelled

    # Compared as the labelled set compares texts (case and spacing aside): 14 evaluation
    # statements once sat in train_en.jsonl with a no-break space where dev has a space.
    gold = {text_key(json.loads(x)["text"]) for x in (SHARED / "labels" / "dev.jsonl").read_text().splitlines()}
    rows = load_labelled(label_files(LABELS_DIR))
    assert len(rows) >= 2000
    assert not gold & {text_key(r["text"]) for r in rows}
    # Every statement was labelled by two independent coders (and an adjudicator when they differed).
    assert all(len(r["labeller"].split("+")) >= 2 for r in rows)
    langs = {r["lang"] for r in rows}
    assert langs == {"es", "en"}
    y = np.array([[t in r["topics"] for t in ("security", "trade", "migration", "sovereignty")] for r in rows])
    assert (y.sum(axis=0) >= 150).all()


def _skops_estimator():
    from pipeline.tagger import _load_skops

    return _load_skops(DEFAULT_MODEL, DEFAULT_MODEL.read_bytes())


def test_compiled_form_predicts_exactly_like_the_skops_model(tmp_path):
    import shutil

    model_file = tmp_path / "tagger.skops"
    shutil.copy(DEFAULT_MODEL, model_file)
    first = load_model(model_file)                     # reads skops, writes the compiled form
    compiled = list(tmp_path.glob("tagger.*.npz"))
    assert [p.name for p in compiled] == [f"tagger.{first.version}.npz"]
    load_model.cache_clear()
    second = load_model(model_file)                    # reads the compiled form
    assert type(second.estimator).__name__ == "CompiledTagger"
    texts = [json.loads(line)["text"] for line in open(SHARED / "labels" / "dev.jsonl")] \
        if (SHARED / "labels" / "dev.jsonl").exists() else list(SEED_EXPECTED) + list(SPANISH_EXPECTED)
    texts += ["palabrasnuncavistas xq zzz fentanilazo", ""]
    ref = _skops_estimator()
    assert np.array_equal(second.estimator.predict_proba(texts), ref.predict_proba(texts))
    for text in texts[:40]:
        for topic in second.topics:
            assert second.explain(text, topic) == ref.explain(text, topic)


def test_a_damaged_or_foreign_compiled_file_is_ignored_and_rewritten(tmp_path):
    import shutil

    model_file = tmp_path / "tagger.skops"
    shutil.copy(DEFAULT_MODEL, model_file)
    version = load_model(model_file).version
    fast = tmp_path / f"tagger.{version}.npz"
    text = "Se revisará el T-MEC en 2026 y vamos a defender a los productores de acero."
    for damage in (b"not a zip file", None):
        if damage is None:  # arrays that would need unpickling: np.load must refuse, not run them
            np.savez(fast, params=np.array([{"key": version}], dtype=object))
        else:
            fast.write_bytes(damage)
        load_model.cache_clear()
        m = load_model(model_file)
        assert type(m.estimator).__name__ == "TopicTagger"  # fell back to the skops file
        assert m.tag([text])[0].topics == ("trade",)
        load_model.cache_clear()
        assert type(load_model(model_file).estimator).__name__ == "CompiledTagger"  # rewritten
    # a compiled file renamed to pass for another model version is not used for that one
    other = tmp_path / "tagger.000000000000.npz"
    fast.rename(other)
    from pipeline.tagger.scoring import read_compiled

    with pytest.raises(ValueError, match="another model"):
        read_compiled(other, "000000000000")


def _load_in_child(path: str) -> list[float]:
    return load_model(path).estimator.predict_proba(list(SPANISH_EXPECTED))[:, 0].tolist()


def test_workers_of_a_first_run_write_one_good_compiled_file(tmp_path):
    """Two processes loading a model with no compiled form yet both write it; the result loads."""
    import shutil
    from concurrent.futures import ProcessPoolExecutor

    model_file = tmp_path / "tagger.skops"
    shutil.copy(DEFAULT_MODEL, model_file)
    with ProcessPoolExecutor(max_workers=2) as pool:
        a, b = pool.map(_load_in_child, [str(model_file)] * 2)
    assert a == b
    assert [p.name for p in tmp_path.iterdir() if p.suffix in (".npz", ".tmp")] == \
        [f"tagger.{load_model(model_file).version}.npz"]
    load_model.cache_clear()
    m = load_model(model_file)
    assert type(m.estimator).__name__ == "CompiledTagger"
    assert m.estimator.predict_proba(list(SPANISH_EXPECTED))[:, 0].tolist() == a


def test_evaluate_by_cross_validation_on_a_labelled_set(tmp_path):
    """`evaluate --cv N` measures a labelled set without a gold file (a user adding a topic)."""
    sample = _labelled_sample(1, 600)
    labels = _labels_dir(tmp_path, sample)
    res = _evaluate_labels(labels, "--cv", "3")
    assert res["model"] == "cross-validated" and res["statements"] == 600
    _assert_supports(res, sample)
    assert res["model_scores"]["all"]["macro_f1"] > 0.6  # 400 training statements a fold already learn
    assert {"es", "en"} <= set(res["model_scores"])
    # A topic with too few examples is named, not crashed on.
    _labels_dir(tmp_path, [dict(x, topics=[t for t in x["topics"] if t != "trade"]) for x in sample])
    r = run_cli("evaluate", "--cv", "3", "--labels", str(labels))
    assert r.returncode == 1 and "trade" in r.stderr and "fewer than 10" in r.stderr


def test_a_topic_added_by_a_user_reaches_the_store_and_the_dashboard(tmp_path, monkeypatch):
    """The issue's promise: edit the topics file, add labelled examples, `train`, `run`; no code."""
    import re
    import shutil

    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT, SEEDS

    topics = tmp_path / "topics.toml"
    topics.write_text(DEFAULT_TOPICS.read_text() + '\n[[topic]]\nname = "energy"\n'
                      'description = "Oil, gas and electricity."\n'
                      'cues = ["pemex", "cfe", "electricidad", "energia", "petroleo", "gasolina*", "energy"]\n')
    # Fixture labels for the new topic (a user would read each statement; the mechanism is the same).
    energy = re.compile(r"pemex|\bcfe\b|electricidad|energ[ií]a|petr[oó]leo|gasolina|\benergy\b", re.I)
    labels = _labels_dir(tmp_path, [dict(r, topics=r["topics"] + ["energy"] * bool(energy.search(r["text"])))
                                    for r in _labelled_sample(4, 2500)])
    model_file = tmp_path / "model" / "tagger.skops"
    r = run_cli("train", "--labels", str(labels), "--topics", str(topics), "--output", str(model_file))
    assert r.returncode == 0, r.stderr
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in sorted((SEEDS / "mananeras" / "2026").glob("2026-01-0*.txt")):
        shutil.copy(p, inbox)
    st = tmp_path / "store"
    r = run_cli("run", "--input", str(inbox), "--store", str(st), "--model", str(model_file),
                "--topics", str(topics), "--no-snapshots", "--json")
    assert r.returncode == 0, r.stderr
    per_topic = json.loads(r.stdout)["topics_added"]
    assert per_topic["energy"] > 10 and per_topic["security"] > 10, per_topic

    monkeypatch.setenv("TOPICS_STORE", str(st))
    from dashboard import data

    data.facets.clear()
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "energy" in at.multiselect(key="topics").options
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "energy" in {t["name"] for t in spec["data"]}


def test_evaluate_on_later_dates_trains_on_the_earlier_labels(tmp_path):
    """`evaluate --since DATE`: how a model learnt from older statements does on newer ones."""
    sample = _labelled_sample(2, 1500)
    labels = _labels_dir(tmp_path, sample)
    res = _evaluate_labels(labels, "--since", "2025-01-01")
    later = [x for x in sample if x["date"] >= "2025-01-01"]
    assert res["statements"] == len(later) > 20
    _assert_supports(res, later)
    assert res["model_scores"]["all"]["macro_f1"] > 0.6
    r = run_cli("evaluate", "--since", "2030-01-01", "--labels", str(labels))
    assert r.returncode == 1 and "2030-01-01" in r.stderr and "too few" in r.stderr
    r = run_cli("evaluate", "--since", "last week", "--labels", str(labels))
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr
    r = run_cli("train", "--jobs", "0", "--labels", str(labels))
    assert r.returncode == 2 and "--jobs" in r.stderr


def test_fitting_topics_in_parallel_gives_the_same_model(tmp_path):
    """`--jobs`: topics fitted in separate processes give the model one process gives, to the last
    bit, and the same model file (version)."""
    import random

    from pipeline.settings import LABELS_DIR
    from pipeline.tagger import save_model
    from pipeline.tagger.train import _estimator, _training_set

    topics, _, _, rows, y = _training_set(LABELS_DIR, DEFAULT_TOPICS)
    idx = random.Random(3).sample(range(len(rows)), 800)
    texts = [rows[i]["text"] for i in idx]
    one = _estimator(topics, {}).fit(texts, y[idx])
    two = _estimator(topics, {"n_jobs": 2}).fit(texts, y[idx])
    # BLAS is held to one thread in both (in this process it would add up in another order, and
    # the shipped labels' security threshold moved with it: 0.38 with --jobs 1, 0.34 with 2).
    for attr in ("w_tok_word_", "w_bigram_", "w_tok_char_", "w_cue_", "intercept_", "platt_a_", "platt_b_",
                 "thresholds_"):
        np.testing.assert_array_equal(getattr(one, attr), getattr(two, attr), err_msg=attr)
    versions = [save_model(m, tmp_path / name / "tagger.skops", {}) for name, m in (("one", one), ("two", two))]
    assert versions[0] == versions[1]
    assert two.n_jobs == 2  # saving leaves the estimator as it was


# A statement none of whose words was seen in training: on its own, in a batch of one, it is
# the whole batch (a records file groups each date into its own document, tagged as one batch).
UNSEEN_ONLY = ["Ajá.", "", "¡¿…?!", "   ", "Zzxq qqwv"]


@pytest.mark.parametrize("text", UNSEEN_ONLY)
def test_tag_command_tags_a_batch_of_one_with_no_known_word(text):
    r = run_cli("tag", "--input", "-", "--output", "-", input=json.dumps({"id": 1, "text": text}) + "\n")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert row["id"] == 1 and row["topics"] == []
    assert set(row["scores"]) == {"security", "trade", "migration", "sovereignty"}
    assert all(0.0 <= v <= 1.0 for v in row["scores"].values())


def test_a_record_with_no_known_word_is_stored_with_its_file(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    records = [{"date": "2025-03-03", "source": "Test", "text": "New tariffs on Mexican steel imports."},
               {"date": "2025-03-04", "source": "Test", "text": "Ajá."},
               {"date": "2025-03-05", "source": "Test", "text": "¡¿…?!"},
               {"date": "2025-03-06", "source": "Test", "text": "Deportations of migrants rose this year."}]
    (inbox / "r.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in records))
    st_dir = tmp_path / "store"
    r = run_cli("run", "--input", str(inbox), "--store", str(st_dir), "--no-snapshots", "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    assert json.loads(r.stdout)["refused"] == []
    from pipeline import store

    conn = store.open_readonly(st_dir)
    rows = dict(conn.execute("SELECT text, topic_mask FROM statements").fetchall())
    # A paragraph with no word at all is no statement (segment.py); every other line is stored.
    assert set(rows) == {x["text"] for x in records} - {"¡¿…?!"}
    assert rows["Ajá."] == 0
    assert rows["New tariffs on Mexican steel imports."] != 0


def test_a_compiled_file_with_altered_arrays_is_ignored_and_rebuilt(tmp_path):
    """The compiled file names the right model file, but its thresholds were changed: not trusted."""
    import shutil

    model_file = tmp_path / "tagger.skops"
    shutil.copy(DEFAULT_MODEL, model_file)
    version = load_model(model_file).version
    fast = tmp_path / f"tagger.{version}.npz"
    with np.load(fast, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    arrays["thresholds_"] = np.zeros_like(arrays["thresholds_"])  # every topic on every statement
    with open(fast, "wb") as fh:
        np.savez(fh, **arrays)
    load_model.cache_clear()
    m = load_model(model_file)
    assert type(m.estimator).__name__ == "TopicTagger"  # fell back to the skops file
    texts = list(SEED_EXPECTED) + ["Buenos días a todos."]
    ref = _skops_estimator()
    assert np.array_equal(m.estimator.predict_proba(texts), ref.predict_proba(texts))
    assert m.tag(["Buenos días a todos."])[0].topics == ()
    load_model.cache_clear()
    again = load_model(model_file)  # the rebuilt compiled file is trusted again
    assert type(again.estimator).__name__ == "CompiledTagger"
    assert np.array_equal(again.estimator.thresholds_, ref.thresholds_)
    assert np.array_equal(again.estimator.predict_proba(texts), ref.predict_proba(texts))


def test_bootstrap_intervals_cover_the_true_f1_of_a_synthetic_tagger():
    """Synthetic truth: a population of 200,000 statements tagged with known error rates has a known
    F1; samples of 400 statements drawn from it get intervals that hold that F1 about 95 % of the time."""
    from pipeline.tagger.evaluate import bootstrap_f1

    rng = np.random.default_rng(11)
    n_pop = 200_000
    gold = rng.random((n_pop, 2)) < [0.25, 0.06]  # a common topic and a rare one
    flip = np.where(gold, rng.random(gold.shape) < [0.15, 0.3], rng.random(gold.shape) < [0.05, 0.01])
    pred = gold ^ flip
    tp, fp, fn = (pred & gold).sum(0), (pred & ~gold).sum(0), (~pred & gold).sum(0)
    true_f1 = 2 * tp / (2 * tp + fp + fn)
    reps, held = 200, np.zeros(2)
    for r in range(reps):
        idx = rng.integers(0, n_pop, 400)
        boot = bootstrap_f1(["common", "rare"], ["x"] * 400, gold[idx], pred[idx], n_boot=400, seed=r)["x"]
        held += [boot[t]["low"] <= true_f1[j] <= boot[t]["high"] for j, t in enumerate(["common", "rare"])]
    coverage = held / reps
    assert ((coverage >= 0.89) & (coverage <= 0.99)).all(), (coverage, true_f1)


def test_bootstrap_intervals_cover_the_true_precision_recall_and_micro_f1_of_a_synthetic_tagger():
    """Synthetic truth: the tagger of the test above (a common topic tagged with precision 0.849,
    recall 0.848, a rare one with 0.811, 0.699; micro F1 0.831) on samples of 400 statements: the
    95 % intervals `evaluate` prints hold the population's precision and recall in 94.0 %, 94.7 %
    (common), 94.7 %, 91.7 % (rare) and its micro F1 in 93.0 % of 300 samples (bounds 89-99 %; the
    standard error of a coverage at 300 is 1.3 points). 80 % intervals hold them in 75-81 % and fail the bounds."""
    from pipeline.tagger.evaluate import bootstrap_f1

    rng = np.random.default_rng(11)
    n_pop = 200_000
    gold = rng.random((n_pop, 2)) < [0.25, 0.06]
    flip = np.where(gold, rng.random(gold.shape) < [0.15, 0.3], rng.random(gold.shape) < [0.05, 0.01])
    pred = gold ^ flip
    tp, fp, fn = (pred & gold).sum(0), (pred & ~gold).sum(0), (~pred & gold).sum(0)
    truth = {("precision", "common"): tp[0] / (tp[0] + fp[0]), ("recall", "common"): tp[0] / (tp[0] + fn[0]),
             ("precision", "rare"): tp[1] / (tp[1] + fp[1]), ("recall", "rare"): tp[1] / (tp[1] + fn[1]),
             ("micro", "f1"): 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())}
    reps = 300
    held = dict.fromkeys(truth, 0)
    for r in range(reps):
        idx = rng.integers(0, n_pop, 400)
        boot = bootstrap_f1(["common", "rare"], ["x"] * 400, gold[idx], pred[idx], n_boot=400, seed=r)["x"]
        for (what, topic), value in truth.items():
            got = boot["micro"] if what == "micro" else boot[topic][what]
            held[what, topic] += got["low"] <= value <= got["high"]
    coverage = {k: v / reps for k, v in held.items()}
    assert all(0.89 <= v <= 0.99 for v in coverage.values()), (coverage, truth)


def test_evaluate_prints_precision_recall_and_micro_f1_with_their_intervals(tmp_path):
    """`evaluate`'s text: every precision, recall and F1 with the interval of --json's `intervals`,
    and micro F1 beside macro F1 with theirs (400 audit statements as the gold file: never trained on)."""
    from pipeline.audit import SAMPLE_FILE

    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(SAMPLE_FILE.read_text(encoding="utf-8").splitlines(keepends=True)[:400]), encoding="utf-8")
    res = json.loads(run_cli("evaluate", "--gold", str(gold), "--json").stdout)
    r = run_cli("evaluate", "--gold", str(gold))
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "precision, recall and F1 with their 95 % bootstrap intervals" in text

    def ci(m: dict, key: str) -> str:
        return f"{m[key]:.3f} ({m['low']:.3f}-{m['high']:.3f})"

    for lang, block in zip(res["model_scores"], text.split("\n[")[1:]):
        lines = block.splitlines()
        iv, m = res["intervals"][lang], res["model_scores"][lang]
        assert iv["micro"]["f1"] == m["micro_f1"] and iv["micro"]["low"] < iv["micro"]["high"]
        assert f"micro F1 {ci(iv['micro'], 'f1')[:-1]}; keywords" in lines[0], lines[0]
        assert f"macro F1 {ci(iv['macro'], 'f1')[:-1]}; keywords" in lines[0], lines[0]
        for t, s in m["topics"].items():
            row = next(x for x in lines if x.split()[:1] == [t])
            c = iv[t]
            assert c["precision"]["precision"] == s["precision"] and c["recall"]["recall"] == s["recall"]
            for said in (ci(c["precision"], "precision"), ci(c["recall"], "recall"), ci(c, "f1")):
                assert said in row, (lang, t, said, row)


def test_paired_change_intervals_cover_the_true_difference_of_two_synthetic_taggers():
    """Synthetic truth: two taggers of known error rates on a population of 200,000 statements; on
    samples of 400, the paired interval of B's F1 minus A's holds the population's difference about 95 %
    of the time, and is narrower than the two unpaired intervals would suggest."""
    from pipeline.tagger.evaluate import bootstrap_f1, paired_change

    rng = np.random.default_rng(5)
    n_pop = 200_000
    gold = rng.random((n_pop, 1)) < 0.2
    # B fixes a third of A's misses and adds a few false alarms: mostly the same errors (paired).
    miss_a = gold & (rng.random(gold.shape) < 0.25)
    alarm_a = ~gold & (rng.random(gold.shape) < 0.04)
    pred_a = (gold & ~miss_a) | alarm_a
    pred_b = pred_a | (miss_a & (rng.random(gold.shape) < 0.33)) | (~gold & (rng.random(gold.shape) < 0.005))

    def f1(p):
        tp, fp, fn = (p & gold).sum(), (p & ~gold).sum(), (~p & gold).sum()
        return 2 * tp / (2 * tp + fp + fn)

    truth = f1(pred_b) - f1(pred_a)
    assert 0.02 < truth < 0.06
    reps, held, narrower = 200, 0, 0
    for r in range(reps):
        idx = rng.integers(0, n_pop, 400)
        ch = paired_change(["t"], ["x"] * 400, gold[idx], pred_a[idx], pred_b[idx], n_boot=400, seed=r)["x"]["t"]
        held += ch["low"] <= truth <= ch["high"]
        a = bootstrap_f1(["t"], ["x"] * 400, gold[idx], pred_a[idx], n_boot=400, seed=r)["x"]["t"]
        narrower += (ch["high"] - ch["low"]) < (a["high"] - a["low"])
    assert 0.89 <= held / reps <= 0.99, held / reps
    assert narrower == reps
    same = paired_change(["t"], ["x"] * 400, gold[:400], pred_a[:400], pred_a[:400], n_boot=100)["all"]["macro"]
    assert same == {"change": 0.0, "low": 0.0, "high": 0.0}


def test_bootstrap_intervals_bracket_the_measured_f1(model):
    """evaluate.bootstrap_f1: every F1 of the report, with the interval resampling gives it."""
    from pipeline.audit import SAMPLE_FILE
    from pipeline.tagger.evaluate import bootstrap_f1, report

    rows = [json.loads(line) for line in SAMPLE_FILE.read_text(encoding="utf-8").splitlines()]  # never trained on
    names = list(model.topics)
    langs = [r["lang"] for r in rows]
    gold = np.array([[int(n in r["topics"]) for n in names] for r in rows])
    pred = model.estimator.predict([r["text"] for r in rows])
    boot = bootstrap_f1(names, langs, gold, pred, n_boot=300)
    plain = report(names, langs, gold, pred)
    assert set(boot) == {"all", "es", "en"}
    for lang, res in boot.items():
        assert res["n"] == plain[lang]["n"]
        assert res["macro"]["f1"] == plain[lang]["macro_f1"]
        for n in names:
            f = res[n]
            assert f["f1"] == plain[lang]["topics"][n]["f1"] and f["support"] == plain[lang]["topics"][n]["support"]
            assert f["low"] <= f["f1"] <= f["high"] and f["low"] < f["high"], (lang, n, f)
        assert res["macro"]["low"] <= res["macro"]["f1"] <= res["macro"]["high"]
    # fewer statements, wider interval; the same seed, the same interval; a perfect tagger, no width
    width = {k: boot[k]["security"]["high"] - boot[k]["security"]["low"] for k in ("all", "en")}
    assert width["en"] > width["all"]
    assert bootstrap_f1(names, langs, gold, pred, n_boot=300) == boot
    perfect = bootstrap_f1(names, langs, gold, gold, n_boot=50)["all"]["macro"]
    assert perfect == {"f1": 1.0, "low": 1.0, "high": 1.0}
