"""Defects found by driving the dashboard on the full corpus in Chromium (interaction QA), each
checked here on the seed store through AppTest, or on the figure and view functions themselves."""

from __future__ import annotations

import csv
import io
import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")


def _csv(at: AppTest, media: list, label: str) -> list[dict]:
    button = [b for b in at.get("download_button") if b.proto.label == label][0]
    data = media[-1].get_file(button.proto.url.rsplit("/", 1)[-1]).content
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


@pytest.mark.parametrize("measure", ["count", "share", "corrected"])
def test_a_rolling_mean_is_in_the_hover_and_the_chart_csv(app, media, measure):
    """QA: with a 3-month rolling mean a point stood at 127.5 statements while its hover said
    "131 of 3820 statements" and the chart's CSV gave 131: the plotted value was nowhere but in the
    drawing. The hover names the mean and the period's own number; the CSV has the mean's column."""
    app.query_params["granularity"] = "month"
    app.query_params["measure"] = measure
    app.query_params["rolling"] = "3"
    app.query_params["topics"] = ["trade"]
    at = app.run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    line = next(t for t in spec["data"] if t["name"] == "trade")
    assert "3-period mean" in line["hovertemplate"] and "this period" in line["hovertemplate"]
    rows = _csv(at, media, "Download chart data (CSV)")
    column = ("share_corrected" if measure == "corrected" else measure) + "_mean_3"
    plotted = {x[:10]: y for x, y in zip(line["x"], line["y"])}
    assert rows and column in rows[0]
    for r in rows:
        y = plotted[r["period"]]
        assert (r[column] == "") == (y is None)
        if y is not None:
            assert float(r[column]) == pytest.approx(y)
    # The mean differs from the period's own number somewhere (else the test would prove nothing).
    own = "share_corrected" if measure == "corrected" else measure
    assert any(r[column] and abs(float(r[column]) - float(r[own])) > 1e-9 for r in rows)


def test_the_search_words_are_marked_in_the_statements_listed(app):
    """QA: searching "humanitaria" listed 8 statements with only the tagger's evidence words marked
    ("comerciales", "aranceles"): the word searched for had to be found by eye in each. The search's
    words and phrases are marked too, in a colour of their own that a caption names."""
    at = app.run()
    at.switch_page("views/explore.py").run()
    at.text_input(key="q").input('"integridad territorial" -zzzz').run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown if "class='stmt'" in m.value]
    assert shown, "the search found no statement in the seed store"
    assert all('<mark class="hit">' in s for s in shown)
    assert any("search's words" in c.value for c in at.caption)


def test_highlight_marks_searched_words_and_phrases_apart_from_evidence():
    from dashboard.render import highlight

    out = highlight("La Frontera norte y los aranceles <b>", ["aranceles", "frontera"], ["frontera norte"])
    assert out == ('La <mark class="hit">Frontera norte</mark> y los <mark>aranceles</mark> &lt;b&gt;')
    assert highlight("sin nada", [], []) == "sin nada"


def test_model_versions_with_one_model_names_it_instead_of_zero_versions(app):
    """QA: on a store tagged by one model, Model versions said "this store keeps the tags of 0
    versions", as if it held no tags. It names the model whose tags it serves."""
    at = app.run()
    at.switch_page("views/versions.py").run()
    assert not at.exception, at.exception
    info = " ".join(i.value for i in at.info)
    assert "0 versions" not in info
    from dashboard import data

    (model,) = data.tagging_models(data.version())
    assert f"holds only the tags it serves (model {model})" in info
