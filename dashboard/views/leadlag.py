"""Lead & lag: does one source raise a topic before the other?"""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, data, state
from dashboard.components import cite
from dashboard.figures import ccf_figure, irf_figure
from dashboard.render import md_text
from pipeline import leadlag, queries

st.title("Lead & lag")
sources = data.facets(data.version())["sources"]
if len(sources) < 2:
    st.info("Lead and lag need two sources; the store has " + md_text(", ".join(sources) or "none") + ".")
    st.stop()
default_a = leadlag.DEFAULT_SOURCES[0] if leadlag.DEFAULT_SOURCES[0] in sources else sources[0]
default_b = next(s for s in (leadlag.DEFAULT_SOURCES[1], *sources) if s in sources and s != default_a)
for notice in state.check_choices({"a": (sources, default_a), "b": (sources, default_b)}):
    st.warning(md_text(notice))
c1, c2 = st.columns(2)
a = c1.selectbox("Source A", sources, index=sources.index(default_a), key="a", bind="query-params")
b = c2.selectbox("Source B", sources, index=sources.index(default_b), key="b", bind="query-params")
if a == b:
    st.info("Choose two different sources.")
    st.stop()
f = st.session_state["filters"]
out = analysis.lead_lag(data.version(), data.audit_key(), a, b, f.topics, f.date_from, f.date_to)
st.caption(f"Weekly series of each source from {f.date_from} to {f.date_to}, topics from the sidebar; the other "
           "filters do not apply (a source's whole weekly share is compared).")
st.warning(md_text(out["caveat"]))


def _p(value) -> str:
    return "—" if value is None else f"{value:.3f}"


# Each topic's verdict in full (a table cell cuts long text), then the numbers behind it.
for r in out["topics"]:
    st.markdown(f"**{md_text(r['topic'])}**: {md_text(r['verdict'])}")
rows = [{"topic": r["topic"], "weeks": r["weeks"], "measure": r["measure"],
         f"p ({a} first)": _p(r.get("p_adj_a_precedes_b")), f"p ({b} first)": _p(r.get("p_adj_b_precedes_a")),
         "CCF peak lag": "—" if (r.get("ccf_peak") or {}).get("lag") is None else str(r["ccf_peak"]["lag"])}
        for r in out["topics"]]
st.dataframe(rows, hide_index=True)
st.caption("—: not tested (see the verdict). "
           "p: Toda-Yamamoto Granger tests (VAR in levels with the extra lag, Wald test on the original lags), "
           "Benjamini-Hochberg adjusted over topics and directions. The lag is where the prewhitened "
           "cross-correlation peaks.")
tested = [r["topic"] for r in out["topics"] if "ccf" in r]
if tested:
    topic = st.selectbox("Cross-correlation of", tested, key="ll_topic", bind="query-params")
    r = next(x for x in out["topics"] if x["topic"] == topic)
    st.plotly_chart(ccf_figure(r["ccf"], a, b), key="ccf_chart", width="stretch")
    st.caption(f"Prewhitened with an AR({r['ccf']['ar_order']}) model of {md_text(a)}; dashed lines: 95 % band. "
               f"VAR({r['var_lags']}) + {r['d_max']} extra lag(s), {r['weeks']} weeks from {r['first_week']} to "
               f"{r['last_week']}.")
    if r.get("irf"):
        st.markdown(f"**Impulse responses of {md_text(topic)}**")
        st.plotly_chart(irf_figure(r["irf"], a, b), key="irf_chart", width="stretch")
        st.caption("How each source's weekly share moves in the weeks after an unusual week (a surprise of one "
                   "standard deviation) in the other's, from the same VAR; shaded: 95 % band from 200 bootstrap "
                   "draws. A band that holds 0 at every week: no response told apart from noise.")
# Lead & lag follows only the topics and dates: the citation names only those.
cite(f"Lead and lag of weekly topic shares between {a} and {b} (Toda-Yamamoto Granger tests, "
     "Benjamini-Hochberg adjusted)", queries.Filters(date_from=f.date_from, date_to=f.date_to, topics=f.topics),
     data.audit_key() if any(r.get("measure") == "corrected" for r in out["topics"]) else None)
