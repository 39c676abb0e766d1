"""Correcting tags in the dashboard (AppTest on a real store): the Statements page and the queue."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from pipeline import labelling
from pipeline import store as st
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")


def _app(store, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOPICS_STORE", str(store))
    from dashboard import data

    data.facets.clear()
    data.statements.clear()
    return AppTest.from_file(APP, default_timeout=90)


def test_a_correction_on_the_statements_page_is_logged_and_shown_at_once(seed_store_copy, monkeypatch):
    at = _app(seed_store_copy, monkeypatch)
    at.run()
    at.switch_page("views/explore.py").run()
    assert not at.exception, at.exception
    pills = [p for p in at.get("button_group") if p.key and p.key.startswith("explore_fix_")]
    assert len(pills) == 20
    first = pills[0]
    sid = first.key.removeprefix("explore_fix_")
    before = list(first.value)
    wanted = sorted(set(before) ^ {"sovereignty"})
    # The name is asked once; the save button waits for it.
    assert at.button(key=f"explore_save_{sid}").disabled
    at.text_input(key=f"explore_{sid}_who").input("Ana Ruiz").run()
    pill = next(p for p in at.get("button_group") if p.key == f"explore_fix_{sid}")
    pill.set_value(wanted).run()
    at.button(key=f"explore_save_{sid}").click().run()
    assert not at.exception, at.exception
    conn = st.open_readonly(seed_store_copy)
    got = labelling.replay(conn)
    conn.close()
    assert got[sid].topics == tuple(wanted) and got[sid].who == "Ana Ruiz"
    captions = " ".join(c.value for c in at.caption)
    assert "corrected by Ana Ruiz" in captions
    # The name stays for the session: the next statement's save button is enabled without asking again.
    other = next(p for p in at.get("button_group") if p.key.startswith("explore_fix_") and p.key != first.key)
    assert not at.button(key=f"explore_save_{other.key.removeprefix('explore_fix_')}").disabled


def test_the_review_queue_records_an_answer_and_moves_on(seed_store_copy, monkeypatch):
    at = _app(seed_store_copy, monkeypatch)
    at.run()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    at.text_input(key="review_who").input("Luis").run()
    buttons = [b for b in at.button if b.key and b.key.startswith("q_True_")]
    assert len(buttons) == 20
    sid = buttons[0].key.removeprefix("q_True_")
    buttons[0].click().run()
    assert not at.exception, at.exception
    conn = st.open_readonly(seed_store_copy)
    ev = labelling.events(conn)
    conn.close()
    assert [(e["statement_id"], e["source"], e["who"], e["new"]) for e in ev] == [(sid, "queue", "Luis", 1)]
    assert sid not in {b.key.removeprefix("q_True_") for b in at.button if b.key and b.key.startswith("q_True_")}


def test_the_review_queue_puts_each_statement_on_the_side_its_tags_are(seed_store, monkeypatch):
    """A stored score is rounded to four decimals: one just under the threshold (not tagged) can read
    as the threshold itself. The page said "score 0.340 (above the threshold) · tagged: no topic" for
    such a statement of the seed store; the side shown is the one its tags say."""
    at = _app(seed_store, monkeypatch)
    at.run()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    lines = [m.value for m in at.markdown if "the threshold) · tagged: " in m.value]
    assert len(lines) == 20
    for line in lines:
        tagged = line.split("· tagged: ", 1)[1].split(" · ", 1)[0].split(", ")
        assert ("(above the threshold)" in line) == ("security" in tagged), line


def test_a_correction_of_an_audit_text_says_it_is_not_trained_on(seed_store_copy, monkeypatch):
    """A statement whose text is in the audit sample: its correction is logged but never trained on.
    The page said "the tagger learns it at the next retrain" all the same."""
    import sqlite3

    from pipeline.audit import SAMPLE_FILE

    at = _app(seed_store_copy, monkeypatch)
    at.run()
    at.switch_page("views/explore.py").run()
    sids = [p.key.removeprefix("explore_fix_") for p in at.get("button_group") if p.key.startswith("explore_fix_")]
    audit_text = json.loads(SAMPLE_FILE.read_text().splitlines()[0])["text"]
    conn = sqlite3.connect(st.db_path(seed_store_copy), isolation_level=None)
    conn.execute("UPDATE statements SET text = ? WHERE statement_id = ?", (audit_text, sids[0]))
    conn.close()
    labelling.set_topics(seed_store_copy, sids[0], ["sovereignty"], who="Ana")
    labelling.set_topics(seed_store_copy, sids[1], ["sovereignty"], who="Ana")
    at.run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption if "corrected by Ana" in c.value]
    assert len(captions) == 2
    assert "never trained on: its text is in the audit sample" in captions[0], captions[0]
    assert "the tagger learns it at the next retrain" in captions[1], captions[1]


def test_a_correction_keeps_a_label_another_session_set_meanwhile(seed_store_copy, monkeypatch):
    """Two sessions on one statement: Ana adds sovereignty while Luis, whose page still shows the
    model's tags, removes one of them. Luis's save made the labels exactly his pills, so the log
    recorded 'sovereignty removed by Luis', a label he never saw. Only what he changed is recorded."""
    at = _app(seed_store_copy, monkeypatch)
    at.run()
    at.switch_page("views/explore.py").run()
    pill = next(p for p in at.get("button_group") if p.key and p.key.startswith("explore_fix_"))
    sid = pill.key.removeprefix("explore_fix_")
    before = list(pill.value)
    assert before and "sovereignty" not in before
    at.text_input(key=f"explore_{sid}_who").input("Luis").run()
    labelling.set_topics(seed_store_copy, sid, [*before, "sovereignty"], who="Ana")  # the other session
    pill = next(p for p in at.get("button_group") if p.key == f"explore_fix_{sid}")
    pill.set_value(before[1:]).run()  # Luis removes the first of the topics his page showed
    at.button(key=f"explore_save_{sid}").click().run()
    assert not at.exception, at.exception
    conn = st.open_readonly(seed_store_copy)
    got = labelling.replay(conn)[sid]
    conn.close()
    assert got.topics == tuple(sorted([*before[1:], "sovereignty"])) and got.who == "Luis"


def test_withdraw_my_correction_leaves_the_statement_as_the_model_tagged_it(seed_store_copy, monkeypatch):
    """A correction made by mistake: setting the topics back left it "corrected by" its author and
    trained on as a confirmed label. "Withdraw my correction" withdraws the session's name's events on
    the statement; another person's correction offers no such button."""
    at = _app(seed_store_copy, monkeypatch)
    at.run()
    at.switch_page("views/explore.py").run()
    pills = [p for p in at.get("button_group") if p.key and p.key.startswith("explore_fix_")]
    sid, other = (p.key.removeprefix("explore_fix_") for p in pills[:2])
    before = list(pills[0].value)
    labelling.set_topics(seed_store_copy, other, ["sovereignty"], who="Luis")  # someone else's correction
    at.text_input(key=f"explore_{sid}_who").input("Ana Ruiz").run()
    assert not [b for b in at.button if b.key == f"explore_withdraw_{sid}"]  # nothing of hers to withdraw yet
    next(p for p in at.get("button_group") if p.key == f"explore_fix_{sid}").set_value(
        sorted(set(before) ^ {"sovereignty"})).run()
    at.button(key=f"explore_save_{sid}").click().run()
    assert "corrected by Ana Ruiz" in " ".join(c.value for c in at.caption)
    assert not [b for b in at.button if b.key == f"explore_withdraw_{other}"]  # Luis's, not hers
    at.button(key=f"explore_withdraw_{sid}").click().run()
    assert not at.exception, at.exception
    conn = st.open_readonly(seed_store_copy)
    got = labelling.replay(conn)
    ev = labelling.events(conn)
    conn.close()
    assert sid not in got and got[other].who == "Luis"
    assert (ev[0]["statement_id"], ev[0]["source"], ev[0]["who"]) == (sid, "withdrawal", "Ana Ruiz")
    captions = " ".join(c.value for c in at.caption)
    assert "corrected by Ana Ruiz" not in captions and "Correction withdrawn by Ana Ruiz" in captions
    assert "corrected by Luis" in captions
    # The statement shows the model's tags again, and there is nothing left to withdraw.
    assert list(next(p for p in at.get("button_group") if p.key == f"explore_fix_{sid}").value) == before
    assert not [b for b in at.button if b.key == f"explore_withdraw_{sid}"]
