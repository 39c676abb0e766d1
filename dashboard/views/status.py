"""Store: what the store holds, the models that tagged it, and the last runs with refused files."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.render import md_text
from pipeline.display import counted


def retagged(r: dict) -> str:
    """What a run re-tagged: a run under another model re-tags the stored statements and may add none."""
    n = r.get("statements_retagged") or 0
    if not n:
        return ""
    return f", {n:,} re-tagged" + (f" by model {md_text(r['model_version'])}" if r.get("model_version") else "")


info = data.status(data.version())
st.title("Store")
# Rows that wrap, each item as wide as its content: in four (or three) fixed columns a 1,024 px window
# cut the dates to "2019-…" and the tables' counts off.
row = st.container(horizontal=True, wrap=True, gap="large")
row.metric("Documents", f"{info['documents']:,}", width="content")
row.metric("Statements", f"{info['statements']:,}", width="content")
row.metric("First date", info["first_date"] or "—", width="content")
row.metric("Last date", info["last_date"] or "—", width="content")
st.subheader("Per source, language and topic")
row = st.container(horizontal=True, wrap=True, gap="medium")
for key in ("by_source", "by_lang", "by_topic"):
    # Topics are the tagger's: their counts are as tagged (Trends' corrected measure says how sure).
    count = "statements tagged" if key == "by_topic" else "statements"
    row.dataframe(pd.DataFrame(list(info[key].items()), columns=[key[3:], count]), hide_index=True, width="content")
st.subheader("Models")
# Every model a run has used, and how many of the stored statements each one's tags are (a re-tag by
# another model leaves the first with none): which model the store's numbers come from.
tagged = data.tagging_models(data.version())
models = pd.DataFrame(info["models"], columns=["version", "topics_hash", "first_used"])
models.insert(1, "statements tagged now", models["version"].map(lambda v: tagged.get(v, 0)).astype(int))
st.dataframe(models, hide_index=True)
st.caption("statements tagged now: the stored statements whose tags that model gave; the dashboard's numbers come "
           "from these tags." + (" Several models: the store holds tags of each, see Model versions." if
                                  sum(1 for n in tagged.values() if n) > 1 else ""))
st.subheader("Last runs")
for r in info["runs"]:
    st.markdown(f"**Run {r['run_id']}** · {md_text(r['started_at'])} · {md_text(r['status'])} · {r['files_new']} new, "
                f"{r['files_changed']} changed, {r['files_unchanged']} unchanged, {r['files_duplicate']} duplicate, "
                f"{r['files_refused']} refused · "
                f"{counted(r['statements_added'] or 0, 'statement', fmt=',')} added" + retagged(r))
    if r["refused"]:
        st.dataframe(pd.DataFrame(r["refused"]), hide_index=True)
