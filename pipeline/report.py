"""A brief's report page: one self-contained HTML file (no script, no external resource) with
its table, spikes, quotes and an inline SVG chart of the week against the eight before it.

Rendering only; the numbers come from ``snapshot.compute``. The chart's bars are those the
dashboard's weekly chart draws (``history_bars``) in the dashboard's topic colours.
"""

from __future__ import annotations

import html

from pipeline import provenance
from pipeline.colours import colour
from pipeline.display import counted, readable, shortened, signed, size_text

# A spike's statements in the report: their start (a White House paragraph can run to 20,000 characters).
SPIKE_QUOTE_CHARS = 300


def points(change: float | None, unit: str = " pts") -> str:
    """A change of share in points, or a dash where there is none (the week compared with had no
    statements)."""
    return "—" if change is None else f"{signed(change * 100)}{unit}"


def corrected_points(change: dict, unit: str = " pts") -> str:
    """A change of corrected share with its 95 % interval, in points (``+1.2 pts (-0.3 to +2.6)``),
    from a brief's ``previous_week`` or ``previous_8_weeks_mean``; a dash where it has none (no
    audit sample, no week with statements to compare with, or a brief frozen before schema 5)."""
    c, lo, hi = (change.get(k) for k in ("change_share_corrected", "change_ci_low", "change_ci_high"))
    if c is None or lo is None or hi is None:
        return "—"
    return f"{signed(c * 100)}{unit} ({signed(lo * 100)} to {signed(hi * 100)})"


def changes_note(summary: dict) -> str:
    """What a brief's changes of share are, in a sentence, and why a corrected one is missing when
    the brief has none (the report page's and the dashboard's)."""
    topics = summary["topics"].values()
    if not any(v["previous_week"].get("change_share_corrected") is not None
               or v["previous_8_weeks_mean"].get("change_share_corrected") is not None for v in topics):
        c = summary.get("correction") or {}
        if not any("change_share_corrected" in v["previous_week"] for v in topics):
            why = "this brief was frozen before briefs carried them (schema 5)"
        elif not c or "unavailable" in c:
            why = c.get("unavailable") or "no audit sample"
        elif not summary["statements"]:
            why = "no statements this week"
        else:
            why = "no earlier week with statements"
        return f"Changes of share as tagged only (no corrected changes: {why})."
    return ("Changes in points of share. Corrected: the change of the share corrected for the tagger's errors, "
            "with its 95 % interval, from the same bootstrap replicates as the weeks' own intervals: the audit's "
            "uncertainty moves both weeks alike and largely cancels, so a change is known better than the two "
            "intervals side by side suggest. As tagged: the change of the tagged share (and of the count). The "
            "8-week mean is over the weeks with statements.")


def history_bars(history: list[dict]) -> tuple[list[dict], bool]:
    """What a brief's chart draws for each (week, topic) of its history: the share corrected for
    the tagger's errors with its 95 % interval when the brief has them, else the share as tagged
    (no interval). Rows ``{week, topic, count, total, tagged, value, low, high}`` (``value`` None
    for a week without statements; ``low``/``high`` None without an interval) and whether the
    values are corrected shares.

    Briefs frozen before schema 4 keep corrected shares for their own week only: a chart mixing
    the two measures would compare unlike numbers, so such a brief's chart shows tagged shares.
    """
    corrected = (any(h["total"] for h in history)
                 and all(h.get("share_corrected") is not None for h in history if h["total"]))
    out = []
    for h in history:
        tagged = h["count"] / h["total"] if h["total"] else None
        if corrected:
            value, low, high = h.get("share_corrected"), h.get("ci_low"), h.get("ci_high")
        else:
            value, low, high = tagged, None, None
        out.append({"week": h["week"], "topic": h["topic"], "count": h["count"], "total": h["total"],
                    "tagged": tagged, "value": value, "low": low, "high": high})
    return out, corrected


def _svg_chart(summary: dict) -> str:
    """A small grouped bar chart of the brief's weeks (bars: shares; lines: their 95 % intervals)
    as inline SVG, each bar's numbers in its tooltip."""
    bars, corrected = history_bars(summary["history"])
    weeks = sorted({b["week"] for b in bars})
    topics = sorted(summary["topics"])  # the dashboard's order (and colours)
    at = {(b["week"], b["topic"]): b for b in bars}
    # The scale's top a little above the highest whisker, so that its cap is drawn whole.
    top = 1.04 * max([b["high"] if b["high"] is not None else (b["value"] or 0) for b in bars] + [0.01])
    w, h, left, bottom = 760, 260, 40, 40
    gw = (w - left) / max(len(weeks), 1)
    bw = gw * 0.8 / max(len(topics), 1)
    what = "corrected share of statements with 95 % intervals" if corrected else "share of statements as tagged"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 30}" role="img" '
             f'aria-label="{what} per topic, week by week">']
    e = html.escape
    for i, wk in enumerate(weeks):
        x0 = left + i * gw + gw * 0.1
        for j, t in enumerate(topics):
            b = at.get((wk, t))
            if b is None:
                continue
            v = b["value"] or 0.0
            bh = (h - bottom) * v / top
            x = x0 + j * bw
            tagged = ("no statements" if b["tagged"] is None else
                      f"as tagged {b['tagged']:.1%} ({b['count']:,} of {b['total']:,})")
            if corrected and b["value"] is not None:
                label = f"corrected {v:.1%} (95 % interval {b['low']:.1%}–{b['high']:.1%}); {tagged}"
            else:
                label = tagged
            parts.append(f'<rect x="{x:.1f}" y="{h - bottom - bh:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                         f'fill="{colour(topics, t)}"><title>{e(wk)} {e(t)}: {e(label)}</title></rect>')
            if b["low"] is not None and b["high"] is not None:
                y_lo = h - bottom - (h - bottom) * b["low"] / top
                y_hi = h - bottom - (h - bottom) * b["high"] / top
                xm = x + bw / 2
                parts.append(f'<path d="M{xm:.1f} {y_lo:.1f}V{y_hi:.1f}M{xm - bw / 4:.1f} {y_lo:.1f}h{bw / 2:.1f}'
                             f'M{xm - bw / 4:.1f} {y_hi:.1f}h{bw / 2:.1f}" stroke="#222" stroke-width="1"/>')
        weight = "bold" if wk == summary["week"] else "normal"
        parts.append(f'<text x="{x0 + gw * 0.4:.1f}" y="{h - bottom + 14}" font-size="10" text-anchor="middle" '
                     f'font-weight="{weight}">{e(wk)}</text>')
    # The scale: 0 at the base, the top and half of it, with light gridlines (behind the bars).
    for frac in (0.0, 0.5, 1.0):
        y = h - bottom - (h - bottom) * frac
        parts.insert(1, f'<line x1="{left}" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>'
                     f'<text x="{left - 4}" y="{max(y + 4, 10):.1f}" font-size="10" '
                     f'text-anchor="end">{top * frac:.0%}</text>')
    for j, t in enumerate(topics):
        parts.append(f'<rect x="{left + j * 120}" y="{h + 10}" width="10" height="10" fill="{colour(topics, t)}"/>'
                     f'<text x="{left + j * 120 + 14}" y="{h + 19}" font-size="11">{e(t)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def chart_note(summary: dict) -> str:
    """What the chart of a brief's weeks shows, in a sentence (the report page's and the dashboard's)."""
    _, corrected = history_bars(summary["history"])
    if corrected:
        return ("Bars: each week's share of statements about the topic, corrected for the tagger's errors; "
                "lines: their 95 % intervals. A tooltip gives the share as tagged beside it.")
    return ("Bars: each week's share of statements as tagged, without intervals (no corrected shares for these "
            "weeks: no audit sample, or a brief frozen before briefs kept them); the table gives this week's "
            "corrected share where there is one.")


def _link(url: str) -> str:
    if not url or not url.startswith(("http://", "https://")):
        return ""
    return ' — <a href="' + html.escape(url) + '">source</a>'


def _correction_note(summary: dict) -> str:
    c = summary.get("correction") or {}
    if not c:
        return ""
    if "unavailable" in c:
        return f"Corrected shares unavailable: {c['unavailable']}."
    return (f"Corrected share: the share of statements about the topic, corrected for the tagger's errors "
            f"measured on {c['audit_statements']:,} audit statements (model {c['model_version']}); "
            "the raw share counts the tagger's tags.")


def _events_html(summary: dict) -> str:
    evs = summary.get("events") or []
    if not evs:
        return ""
    e = html.escape
    items = []
    for ev in evs:
        # No term: no word is used significantly more than in the weeks before (events.distinctive).
        terms = ", ".join(t["term"] for ts in ev.get("terms", {}).values() for t in ts[:5]) or "none that set it apart"
        # Cut at a word and marked, as the `events` command and the Events page mark it: an unmarked
        # cut reads as the whole statement, and a reader would quote its start as all that was said.
        quotes = "".join(f"<li>{e(shortened(readable(q.get('text', '')), SPIKE_QUOTE_CHARS))} <span class='who'>"
                         f"({e(q.get('speaker') or '')}, "
                         f"{e(q.get('date', ''))})</span></li>" for q in ev.get("statements", [])[:3])
        items.append(f"<li><strong>{e(ev['topic'])}</strong> · {e(ev['source'])} · {e(ev['start'])} to "
                     f"{e(ev['end'])}: share {e(size_text(ev))} "
                     f"(z = {ev['z']:.1f}). Terms: {e(terms)}<ul>{quotes}</ul></li>")
    return "<h2>Spikes this week</h2><ul>" + "".join(items) + "</ul>"


def _partial_html(summary: dict) -> str:
    note = summary.get("partial_note")
    return f'<p><strong>{html.escape(note)}</strong></p>\n' if note else ""


def movers_text(summary: dict, k: int = 3) -> str:
    """The brief's top ``k`` movers against the 8-week mean, with the measure they are ranked by:
    the corrected change with its 95 % interval when the brief ranks by it (schema 5), else the
    change of share as tagged. Escaped HTML."""
    e = html.escape
    if summary.get("movers_ranked_by") == "change_share_corrected":
        fields = ("change_share_corrected", "change_ci_low", "change_ci_high")
        found = [f"{e(m['topic'])} {corrected_points({f: m.get(f'{f}_vs_8_week_mean') for f in fields})}"
                 for m in summary["movers"][:k] if m.get("change_share_corrected_vs_8_week_mean") is not None]
        return "(corrected share against the 8-week mean, 95 % interval): " + (", ".join(found) or "none")
    found = [f"{e(m['topic'])} ({points(m['change_share_vs_8_week_mean'])})"
             for m in summary["movers"][:k] if m["change_share_vs_8_week_mean"] is not None]
    return "(share as tagged against the 8-week mean): " + (", ".join(found) or "none")


def render_html(summary: dict, digest: str | None = None) -> str:
    """One self-contained page: no script, no external resource; every text escaped. ``digest``:
    the SHA-256 of the brief's summary.json, quoted in its citation."""
    e = html.escape
    rows, moves = [], []
    for t, v in summary["topics"].items():
        pw, m8 = v["previous_week"], v["previous_8_weeks_mean"]
        corr = v.get("share_corrected")
        corr_cell = (f"{corr:.1%} ({v['ci_low']:.1%}–{v['ci_high']:.1%})" if corr is not None else "–")
        rows.append(f"<tr><td>{e(t)}</td><td>{v['count']:,}</td><td>{v['share']:.1%}</td><td>{corr_cell}</td></tr>")
        # Two tables, so that each fits the page: a change with its interval is a wide cell.
        moves.append(f"<tr><td>{e(t)}</td><td>{corrected_points(pw, '')}</td><td>{corrected_points(m8, '')}</td>"
                     f"<td>{pw['change_count']:+,d} ({points(pw['change_share'])})</td>"
                     f"<td>{signed(m8['change_count'])} ({points(m8['change_share'])})</td></tr>")
    quotes = []
    for t, v in summary["topics"].items():
        items = "".join(
            f"<li><blockquote>{e(readable(q['text']))}</blockquote><p class='who'>{e(q['speaker'] or q['source'])}, "
            f"{e(q['date'])}{_link(q['url'])}</p></li>"
            for q in v["quotes"]) or "<li>No statement on this topic this week.</li>"
        quotes.append(f"<h3>{e(t)}</h3><ul>{items}</ul>")
    movers = movers_text(summary)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Weekly brief {e(summary['week'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:820px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}}
td{{white-space:nowrap}}
td:first-child,th:first-child{{text-align:left}}blockquote{{margin:0.3em 0;font-style:italic}}
.who{{color:#555;font-size:0.9em;margin:0 0 1em}}
.cite{{font-family:ui-monospace,monospace;font-size:0.85em;background:#f4f4f4;padding:0.6em}}</style></head><body>
<h1>Weekly brief: {e(summary['week'])}</h1>
<p>{e(summary['start'])} to {e(summary['end'])} · sources: {e(', '.join(summary['sources']) or 'none')} ·
{counted(summary['documents'], 'document', fmt=',')} · {counted(summary['statements'], 'statement', fmt=',')}</p>
{_partial_html(summary)}<h2>Topics this week</h2>
<table><tr><th>topic</th><th>statements tagged</th><th>share as tagged</th><th>corrected share (95 % interval)</th></tr>
{''.join(rows)}</table>
<p class="who">{e(_correction_note(summary))}</p>
<h2>Changes</h2>
<table><tr><th>topic</th><th>vs previous week, corrected: pts (95 % interval)</th>
<th>vs 8-week mean, corrected: pts (95 % interval)</th><th>vs previous week, as tagged: statements (share)</th>
<th>vs 8-week mean, as tagged: statements (share)</th></tr>
{''.join(moves)}</table>
<p class="who">{e(changes_note(summary))}</p>
{_events_html(summary)}
<p><strong>Biggest movers</strong> {movers}</p>
<h2>This week against the previous eight</h2>
{_svg_chart(summary)}
<p class="who">{e(chart_note(summary))}</p>
<h2>Quotes</h2>
{''.join(quotes)}
<p class="who">Model {e(', '.join(summary['model_versions']))} · topics file {e(summary['topics_hash'])} ·
made {e(summary['made_at'])}. This brief is frozen: later runs do not change it.</p>
<h2>Cite this brief</h2>
<p class="cite">{e(provenance.brief_citation(summary, digest))}</p>
{_check_html(digest)}</body></html>
"""


def _check_html(digest: str | None) -> str:
    """What a reader holding the brief does to check it: the digest is worth nothing to one who is
    not told what to compare it with, and the counts are checked against the statements."""
    if not digest:
        return ""
    return ("<p class=\"who\">To check a copy: <code>sha256sum summary.json</code> in this brief's folder prints the "
            "SHA-256 above when summary.json is the one cited (every number on this page is from it). The week's "
            "statements are in <code>statements.csv</code> beside it, one row each with its topics: counting them "
            "gives the counts and shares as tagged.</p>\n")


