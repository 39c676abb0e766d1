"""Correcting a statement's topics where it is shown: a thin layer over pipeline.labelling.

A correction needs no account: the name a user gives once per session is recorded with it.
Writes go through ``labelling.record`` and ``labelling.withdraw`` (one short transaction each); a busy
store is said, not waited on.
"""

from __future__ import annotations

import os

import streamlit as st

from dashboard import data
from dashboard.render import md_text
from pipeline import labelling, store
from pipeline.errors import StoreError, UsageError

WHO = "correction_who"


def _fresh(read, statement_ids: list[str]) -> dict:
    """``read(conn, statement_ids)`` on a connection of its own, never cached ({} without a store)."""
    try:
        conn = data.connect()
    except StoreError:
        return {}
    try:
        return read(conn, statement_ids)
    finally:
        conn.close()


def current(statement_ids: list[str]) -> dict[str, labelling.Labels]:
    """The log's labels of these statements (read fresh: a correction shows at once)."""
    return _fresh(labelling.labels_for, statement_ids)


def withdrawn(statement_ids: list[str]) -> dict[str, list[dict]]:
    """The withdrawals on these statements (``labelling.withdrawals``), read fresh."""
    return _fresh(labelling.withdrawals, statement_ids)


def topics() -> list[str]:
    conn = data.connect()
    try:
        return list(store.topic_bits(conn))
    finally:
        conn.close()


@st.cache_resource(max_entries=2, show_spinner=False)
def _held_out(stamp: tuple) -> tuple[set[str], set[str]]:
    return labelling.held_out_keys()


def held_out() -> tuple[set[str], set[str]]:
    """The audit sample's and the evaluation set's text keys, read again when either file changes."""
    from pipeline.audit import SAMPLE_FILE

    def mtime(p) -> float | None:
        try:
            return os.stat(p).st_mtime
        except OSError:
            return None

    return _held_out((str(labelling.default_gold()), mtime(SAMPLE_FILE), mtime(labelling.default_gold())))


def ask_name(key: str) -> str:
    """The session's name for corrections (asked once; kept for the session)."""
    name = st.session_state.get(WHO, "")
    if name:
        return name
    typed = st.text_input("Your name (recorded with your corrections, once per session)", key=f"{key}_who",
                          max_chars=80)
    if typed.strip():
        st.session_state[WHO] = typed.strip()
    return st.session_state.get(WHO, "")


def save(statement_id: str, topics_: list[str], who: str, note: str = "", seen: list[str] | None = None) -> bool:
    """Record a correction (only what changed from ``seen``); says what happened. True when saved."""
    try:
        ids = labelling.set_topics(data.store_dir(), statement_id, topics_, who=who, note=note, seen=seen)
    except (StoreError, UsageError) as exc:
        st.error(str(exc))
        return False
    st.toast(f"Saved {len(ids)} change(s) to the label log" if ids else "Nothing changed")
    return True


def withdraw(statement_id: str, who: str) -> bool:
    """Withdraw ``who``'s events on the statement (``labelling.withdraw``); says what happened."""
    try:
        wid = labelling.withdraw(data.store_dir(), statement_id, who=who)
    except (StoreError, UsageError) as exc:
        st.error(str(exc))
        return False
    st.toast("Your correction was withdrawn (the label log keeps it, marked withdrawn)" if wid else
             "You have no correction on this statement to withdraw")
    return True


def _when(at: str) -> str:
    return md_text(at[:16].replace("T", " "))


def controls(statement_id: str, model_topics: list[str], fixed: labelling.Labels | None, key: str,
             gone: list[dict] | None = None) -> None:
    """Under a statement: its corrected labels (if any) or the withdrawal that left it with the
    model's tags, and a popover to add or remove topics or to withdraw one's own correction."""
    shown = list(fixed.topics) if fixed else list(model_topics)
    if fixed:
        # A text of the audit sample or the evaluation set is never trained on: say so, not "learns it".
        why = labelling.held_out_reason(fixed.text, held_out())
        st.caption(f"Labels: **{md_text(', '.join(fixed.topics) or 'no topic')}** · corrected by "
                   f"{md_text(', '.join(fixed.by) or fixed.who)} ({_when(fixed.at)}); "
                   + (f"kept in the label log but never trained on: {md_text(why)}" if why else
                      "the tagger learns it at the next retrain"))
    elif gone:
        last = gone[-1]
        st.caption(f"Correction withdrawn by {md_text(last['who'])} ({_when(last['at'])}): the model's tags "
                   "stand; the review queue and a later audit round may pick it again.")
    pills, seen = f"{key}_fix_{statement_id}", f"{key}_seen_{statement_id}"
    with st.popover("Correct tags"):
        # The topics the user started from are kept at their first change: a save records only what
        # they changed, not a label another session set meanwhile (which their page did not show).
        chosen = st.pills("Topics of this statement", topics(), selection_mode="multi", default=shown, key=pills,
                          on_change=_began, args=(seen, shown))
        who = ask_name(f"{key}_{statement_id}")
        if st.button("Save correction", key=f"{key}_save_{statement_id}", disabled=not who):
            if save(statement_id, list(chosen or []), who, seen=st.session_state.get(seen, shown)):
                for k in (pills, seen):  # the next edit starts from the labels as they are now
                    st.session_state.pop(k, None)
                st.rerun()
        if fixed and who and labelling.name(who) in fixed.by:
            if st.button("Withdraw my correction", key=f"{key}_withdraw_{statement_id}",
                         help=f"Withdraws every label {who} recorded on this statement: it is then as if you had "
                              "never corrected it (others' labels stand). The label log keeps your events, "
                              "marked withdrawn."):
                if withdraw(statement_id, who):
                    for k in (pills, seen):  # the pills start from the labels as they are now
                        st.session_state.pop(k, None)
                    st.rerun()


def _began(seen: str, shown: list[str]) -> None:
    st.session_state.setdefault(seen, shown)
