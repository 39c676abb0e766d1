"""Pieces several pages share: the statements list (drill-down) and the empty-store page."""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import data, state
from dashboard.render import head, highlight, md_link, md_text, readable
from pipeline import queries, settings
from pipeline.csvsafe import frame_to_csv
from pipeline.display import counted

log = logging.getLogger(__name__)
PAGE_SIZE = 20
EXPORT_LIMIT = 20000
LONG_TEXT = 1500  # characters of a statement shown before 'the whole statement'


def empty_store() -> None:
    st.title("Topic tracker")
    st.info(
        f"The store at `{data.store_dir()}` holds no statements yet.\n\n"
        "Fill it with the demo data:\n\n```\npython -m pipeline run --input seeds\n```\n"
        "or with your own transcripts: `python -m pipeline run --input PATH [PATH ...]`. "
        "`make run` does both set-up and the demo run."
    )


def statements_list(f: queries.Filters, topic: str | None, key: str) -> None:
    """A paginated list of the statements behind a selection, with evidence highlighted."""
    v = data.version()
    page = st.session_state.get(f"{key}_page", 1)
    df, total = data.statements(v, f, topic, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    st.caption(counted(total, "statement") + (f" tagged **{md_text(topic)}**" if topic else "") +
               (f" · page {page} of {pages}" if total else ""))
    if pages > 1:
        st.number_input("Page", min_value=1, max_value=pages, value=min(page, pages), step=1, key=f"{key}_page")
    model = None
    try:
        model = data.model(settings.get("model"))
    except Exception:  # evidence is a help, not a requirement
        model = None
    from dashboard import corrections

    fixed = corrections.current(list(df["statement_id"])) if len(df) else {}
    gone = corrections.withdrawn(list(df["statement_id"])) if len(df) else {}
    # The search's words are marked too: in a long statement the reader could not find them.
    searched = queries.search_terms(f.search)[0] if f.search else []
    if searched and len(df):
        st.caption("Marked: the search's words <mark class=\"hit\">like this</mark>, the words that led the tagger to "
                   "each topic <mark>like this</mark>.", unsafe_allow_html=True)
    for row in df.itertuples():
        terms: list[str] = []
        if model is not None:
            for t in row.topics:
                if t in model.topics:
                    terms.extend(model.explain(row.text, t, k=5))
        # Every field is escaped for Markdown: speaker, source, title and url come from the input files.
        tags = " ".join(f"**{md_text(t)}** {row.scores.get(t, 0):.2f}" for t in row.topics) or "no topic"
        link = md_link(row.url, row.title or "source") if (row.url or row.title) else ""
        who = f"{md_text(row.speaker)} ({md_text(row.role)}), {md_text(row.source)}" if row.speaker else \
            f"{md_text(row.source)} ({md_text(row.role)})"
        st.markdown(f"**{md_text(row.date)}** · {who} · {tags}" + (f" · {link}" if link else ""))
        text = readable(row.text)
        if len(text) <= LONG_TEXT:
            st.markdown(f"<div class='stmt'>{highlight(text, terms, searched)}</div>", unsafe_allow_html=True)
        else:
            # A White House paragraph can run to 20,000 characters: its start, and the rest on request.
            st.markdown(f"<div class='stmt'>{highlight(head(text, LONG_TEXT), terms, searched)} …</div>",
                        unsafe_allow_html=True)
            with st.expander(f"The whole statement ({len(text):,} characters)"):
                st.markdown(f"<div class='stmt'>{highlight(text, terms, searched)}</div>", unsafe_allow_html=True)
        corrections.controls(row.statement_id, row.topics, fixed.get(row.statement_id), key,
                             gone.get(row.statement_id))
        st.divider()
    if total:
        def csv_bytes() -> bytes:
            # Built only when the button is clicked (Streamlit calls it then), not on every render.
            conn = data.connect()
            try:
                export, _ = queries.statements(conn, f, topic=topic, limit=EXPORT_LIMIT)
                names = list(queries.topic_bits(conn))
            finally:
                conn.close()
            return frame_to_csv(queries.statements_table(export, names))

        # on_click="ignore": a click need not rerun the page, and that rerun raced the request that
        # builds the file (under load the download never started).
        st.download_button("Download these statements (CSV)", csv_bytes, on_click="ignore",
                           file_name="statements.csv", mime="text/csv", key=f"{key}_csv",
                           help=f"Up to {EXPORT_LIMIT} statements; `python -m pipeline export` writes all.")


def corrected_audit() -> tuple | None:
    """The audit key for corrected shares (``data.audit_key``), or None with a warning saying why
    the corrected measure cannot be shown (the page then shows the raw share)."""
    key = data.audit_key()
    if key is None:
        st.warning("The corrected measure needs the audit sample (`pipeline/audit/audit.jsonl`), which is "
                   "missing: showing the raw share.")
        return None
    try:
        if data.audit_sample(key) is None:
            raise FileNotFoundError("no audit sample")
    except Exception:  # noqa: BLE001 - any failure means the same to the user; details go to the log only
        log.exception("corrected measure unavailable")
        st.warning("The corrected measure needs the tagger model, which could not be loaded (the server's log "
                   "says why): showing the raw share.")
        return None
    from pipeline import audit

    note = audit.model_mismatch(data.audit_sample(key).model_version, data.tagging_models(data.version()))
    if note:
        st.warning(md_text(note))
    return key


def topic_warnings(key: tuple, topics: list[str], sources: tuple[str, ...] = ()) -> set[str]:
    """Warn about topics whose correction is shaky for the charted sources (too few audit positives,
    scores that barely separate, a source the audit never sampled); returns the topics warned about."""
    from pipeline import audit

    sample = data.audit_sample(key)
    lines, warned = [], set()
    for t in topics:
        if t not in sample.topics:
            continue
        found = audit.source_warnings(sample, t, sources)
        if found:
            warned.add(t)
            lines.append(f"- **{md_text(t)}**: " + "; ".join(md_text(w) for w in found))
    if lines:
        st.warning("The corrected share is less certain for these topics (its interval says how much):\n"
                   + "\n".join(lines))
    return warned


def cite(what: str, f: queries.Filters, key: tuple | None = None, where=st) -> None:
    """'Cite this' (in ``where``, a container): a citation of the numbers shown
    (``pipeline.provenance.citation``): the filters, the store's state, the models, the audit when
    ``key`` (corrected numbers), and the page's link."""
    from pipeline import provenance

    text = provenance.citation(data.provenance(data.version(), key), what=what, f=f, url=state.current_url())
    with where.expander("Cite this"):
        st.code(text, language=None, wrap_lines=True)
        st.caption("The store grows with every run: the citation names the state these numbers come from (its "
                   "id, size and last run) and the link reopens the page with these settings. For numbers that "
                   "never change, cite a weekly brief (Weekly page), frozen when its week was complete.")
