"""Model versions: retrain with the label log (a background process), then compare two versions:
their trend lines per topic, the statements whose tags flipped, and their scores on the
evaluation set."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import data
from dashboard.figures import colour
from dashboard.render import highlight, md_text, readable
from pipeline import labelling, settings
from pipeline.display import counted

ROOT = data.__file__.rsplit("/dashboard/", 1)[0]
st.title("Model versions")


def start_retrain() -> None:
    """`python -m pipeline retrain` in a process of its own (not in Streamlit's): it survives a page
    reload, and its progress is read back from the store's retrain.json."""
    store = data.store_dir()
    log = open(labelling.status_path(store).with_suffix(".log"), "w")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "retrain", "--store", store, "--model",
                             settings.get("model"), "--labels", settings.get("labels"), "--topics",
                             settings.get("topics")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    labelling.write_status(store, state="starting", pid=proc.pid, message="", done=0, total=0)


def _confirmed() -> None:
    """The Retrain button's callback: start it, and untick the confirmation for the next one (a
    widget's state can be set in a callback, not after the widget is drawn)."""
    st.session_state["retrain_confirm"] = False
    start_retrain()


@st.fragment(run_every=2)
def progress() -> None:
    s = labelling.read_status(data.store_dir())
    running = bool(s) and s.get("state") in ("starting", "training", "retagging", "evaluating")
    conn = data.connect()
    try:
        _, n_events, _ = labelling.events_hash(conn)
    finally:
        conn.close()
    # The controls side by side as wide as their words, wrapping in a narrow window (a quarter of the
    # page cut "Re-tag all 676,172 statements" to "Re-tag all 67…" at 1,024 px).
    c1 = st.container(horizontal=True, wrap=True, vertical_alignment="center")
    # Two steps: a retrain takes minutes of both cores and re-tags every statement of the store.
    statements = data.facets(data.version())["statements"]
    sure = c1.checkbox(f"Re-tag all {statements:,} statements", key="retrain_confirm", disabled=running,
                       help="A retrain trains the tagger (about 2 minutes) and then re-tags every statement.")
    c1.button("Retrain with the label log", disabled=running or not sure, type="primary", on_click=_confirmed,
              help="Train on the shipped labels plus the log, then re-tag the store in the background; the "
                   "dashboard keeps showing the current tags until the new ones are complete.")
    st.caption(f"{n_events} {'event' if n_events == 1 else 'events'} in the label log."
               + (" Nothing new to learn from: a retrain now gives the model of the shipped labels again."
                  if n_events == 0 else ""))
    if not s:
        return
    state = s.get("state")
    if running:
        total, done = int(s.get("total") or 0), int(s.get("done") or 0)
        what = {"starting": "starting", "training": "training the tagger",
                "retagging": f"re-tagging the store ({done:,} of {total:,})"}.get(state, state)
        st.progress(done / total if total else 0.0, text=f"Retrain: {what}…")
    elif state == "done":
        st.success(f"Last retrain: {md_text(s.get('message', ''))} (previous: {md_text(s.get('old_version'))})")
        if st.session_state.get("retrain_seen") != s.get("updated_at"):
            st.session_state["retrain_seen"] = s.get("updated_at")
            st.rerun(scope="app")  # new tags: the charts below follow
    elif state == "failed":
        st.error(f"Last retrain failed: {md_text(s.get('message', ''))}")


progress()

conn = data.connect()
try:
    vs = labelling.versions(conn)
finally:
    conn.close()
if len(vs) < 2:
    # The Store page lists every model that ever tagged statements here; before/after needs the tags
    # of two kept side by side, which only a retrain keeps (a `run` with another model replaces them).
    used = len(data.status(data.version())["models"])
    serving = ", ".join(sorted(data.tagging_models(data.version())))
    # "keeps the tags of 0 versions" read as if the store held no tags at all: it holds the served ones.
    held = (f"this store keeps the tags of one version ({vs[0]['version']})" if vs else
            f"this store holds only the tags it serves (model {serving}), none of another version beside them")
    st.info("Before/after compares the tags two model versions gave the same statements, and " + held + "."
            + (f" The Store page lists {counted(used, 'model')}: each tagged statements here at one time, but a "
               "re-tag by `python -m pipeline run` with another model replaces the old tags without keeping them."
               if used >= 2 else "")
            + " Retrain (above, or `python -m pipeline retrain`) keeps the served tags and the new model's side "
              "by side.")
    st.stop()
names = [v["version"] + (" (served)" if v["served"] else "") for v in vs]
c1, c2, c3 = st.columns(3)
before = c1.selectbox("Before", names, index=1, key="v_before").split(" ")[0]
after = c2.selectbox("After", names, index=0, key="v_after").split(" ")[0]
gran = c3.segmented_control("Period", ["week", "month"], default="month", key="v_gran") or "month"

conn = data.connect()
try:
    trend = pd.DataFrame(labelling.compare_trend(conn, before, after, gran))
    scores = labelling.evals(conn, [before, after])
finally:
    conn.close()

st.subheader("Trend lines, both versions")
fig = go.Figure()
topics = sorted(trend["topic"].unique()) if len(trend) else []
palette = data.facets(data.version())["topics"]  # the store's topics: each keeps its colour of other pages
for t in topics:
    for v, dash in ((before, "dot"), (after, "solid")):
        d = trend[(trend["topic"] == t) & (trend["version"] == v)]
        fig.add_trace(go.Scatter(x=d["period"], y=d["count"], name=f"{t} · {v}", mode="lines",
                                 line=dict(color=colour(palette, t), dash=dash)))
fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="statements")
st.plotly_chart(fig, key="versions_chart", width="stretch")
st.caption(f"Dotted: {before}; solid: {after}.")

st.subheader("Statements whose tags flipped")
f1, f2, f3 = st.columns([1, 2, 1])
topic_filter = f1.selectbox("Topic", ["all", *topics], key="v_topic")
search = f2.text_input("Text contains", key="v_search", max_chars=200)
only = f3.toggle("Corrected statements only", key="v_only")
conn = data.connect()
try:
    rows, total = labelling.flipped(conn, before, after, topic=None if topic_filter == "all" else topic_filter,
                                    search=search, corrected_only=only)
finally:
    conn.close()
more = ", first 200 shown" if total > 200 else ""
st.caption(f"{total} flips (statement and topic) from {before} to {after}{more}")
for r in rows[:50]:
    who = f" · corrected by {md_text(r['corrected_by'])}" if r["corrected_by"] else ""
    st.markdown(f"**{md_text(r['date'])}** · {md_text(r['source'])} · **{md_text(r['topic'])}** "
                f"{'added' if r['change'] == 'added' else 'removed'}{who}")
    st.markdown(f"<div class='stmt flip'>{highlight(readable(r['text']), [])}</div>", unsafe_allow_html=True)
if len(rows) > 50:
    st.caption("First 50 shown; narrow them with the filters above.")

st.subheader("Scores on the evaluation set")
if not scores:
    st.info("No evaluation set was scored for these versions (retrain scores both when "
            "`../shared/labels/dev.jsonl` or `--gold` is there).")
else:
    st.dataframe(pd.DataFrame(labelling.eval_rows(scores, (before, after))), hide_index=True)
    st.caption("F1 with its 95 % interval (the evaluation set's statements resampled 1,000 times); reports "
               "stored by an older version of the tracker have no interval.")
    conn = data.connect()
    try:
        change = labelling.paired(conn, before, after)
    finally:
        conn.close()
    if change is None:
        st.caption("The two versions were not scored on the same evaluation set statement by statement: "
                   "retrain (or `python -m pipeline retrain`) scores both.")
    else:
        st.markdown(f"**Change from {md_text(before)} to {md_text(after)}**, statement by statement on the same "
                    f"set ({md_text(change['gold'])}): F1 after minus before, with its 95 % paired interval.")
        st.dataframe(pd.DataFrame(labelling.change_rows(change)), hide_index=True)
        st.caption(md_text(labelling.change_verdict(change)))
