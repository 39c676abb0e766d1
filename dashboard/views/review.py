"""Review queue: per topic, the statements the model is least sure about, 20 at a time."""

from __future__ import annotations

import streamlit as st

from dashboard import corrections, data
from dashboard.render import highlight, md_link, md_text, readable
from pipeline import labelling, settings
from pipeline.display import counted
from pipeline.errors import StoreError, UsageError
from pipeline.tagger import model_info

st.title("Review queue")
st.caption("Statements whose score is nearest the topic's threshold (near-duplicates removed), for improving a "
           "topic on purpose. Each answer goes to the label log and is trained on at the next retrain. Statements "
           "reviewed here never enter the audit sample (they are not a random sample).")
try:
    thresholds = model_info(settings.get("model")).info.get("thresholds") or {}
except Exception:  # noqa: BLE001 - no model: nothing to rank by
    thresholds = {}
if not thresholds:
    st.info("No tagger model with thresholds; train one with `python -m pipeline train`.")
    st.stop()
topic = st.segmented_control("Topic", list(thresholds), default=list(thresholds)[0], key="review_topic")
topic = topic or list(thresholds)[0]
who = corrections.ask_name("review")
conn = data.connect()
try:
    batch = labelling.queue(conn, topic, thresholds[topic], labelling.BATCH)
finally:
    conn.close()
st.caption(f"Threshold for **{md_text(topic)}**: {thresholds[topic]:.3f} · "
           f"{counted(len(batch), 'statement')} in this batch")
for item in batch:
    sid = item["statement_id"]
    link = md_link(item["url"], item["title"] or "source") if item["url"] or item["title"] else ""
    # Three decimals: the queue is the statements nearest the threshold, which two would round onto it.
    # The side is the one the tags say: a stored score is rounded to four decimals, so one just under
    # the threshold (not tagged) can equal it ("0.340 (above the threshold) · tagged: no topic").
    side = "above" if topic in item["topics"] else "below"
    st.markdown(f"**{md_text(item['date'])}** · {md_text(item['speaker'] or item['source'])} · score "
                f"{item['score']:.3f} ({side} the threshold) · tagged: "
                f"{md_text(', '.join(item['topics']) or 'no topic')}"
                + (f" · {link}" if link else ""))
    st.markdown(f"<div class='stmt'>{highlight(readable(item['text']), [])}</div>",
                unsafe_allow_html=True)
    c1, c2 = st.columns([1, 1])
    for col, answer, label in ((c1, True, f"About {topic}"), (c2, False, f"Not about {topic}")):
        if col.button(label, key=f"q_{answer}_{sid}", disabled=not who):
            try:
                labelling.record(data.store_dir(), sid, topic, answer, who=who, source="queue")
            except (StoreError, UsageError) as exc:
                st.error(str(exc))
            else:
                st.rerun()
    st.divider()
