"""Filters shared by every page: sidebar widgets bound to the URL, validated first.

Streamlit drops a bound query parameter whose value is not an option, silently, and takes some
wrong ones as they are (reversed dates, '٣' as 3); we check the URL before the widgets read it,
correct it, and tell the user what was used instead. The checks are plain functions of the
parameters (:func:`review`); :func:`check_url` applies them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from urllib.parse import unquote, urlencode, urlsplit

import streamlit as st

from dashboard.render import md_text
from pipeline import queries

KNOWN = {"topics", "dates", "source", "lang", "role", "speaker", "q", "granularity", "measure", "rolling",
         "stacked", "week", "compare", "group", "embed", "embed_options", "vs",
         "a", "b", "ll_topic"}  # the Lead & lag page's sources and topic
# Compare's "Compare by": the words shown (and written into the URL) -> the column compared.
GROUPS = {"source": "source", "speaker role": "role", "language": "lang"}
# Choice parameters of the pages' widgets: allowed values, and the default the widget shows.
CHOICES = {"granularity": (("day", "week", "month"), "week"), "measure": (("count", "share", "corrected"), "count"),
           "group": (tuple(GROUPS), "source"), "compare": (("share", "count", "corrected"), "share")}
# Values a link may carry for a choice under another name: the columns' names (group=lang), which
# the control once stood for. Replaced in the URL without a notice: they mean what they say.
ALIASES = {"group": {column: shown for shown, column in GROUPS.items()}}
ROLLING_MAX = 12

Changes = dict[str, list[str] | None]  # parameter -> corrected values, or None to drop it


def _shown(value: str, limit: int = 40) -> str:
    """A URL value quoted for a notice, long ones cut (a notice must not be a page long)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def choice_notice(key: str, values: list[str], options: list[str] | tuple[str, ...], default: str) -> str | None:
    """The notice for a one-value choice parameter that is not one of ``options``, else None."""
    bad = [v for v in values if v not in options]
    if not bad and len(values) <= 1:
        return None
    shown = ", ".join(map(str, options[:6])) + (", …" if len(options) > 6 else "")
    return (f"URL parameter '{key}': {_shown(bad[0] if bad else ','.join(values))} is not one of {shown}; "
            f"using {default!r}.")


def _review_dates(values: list[str], lo: dt.date | None, hi: dt.date | None) -> tuple[list[str] | None, str | None]:
    """(corrected values or None to drop, notice) for the 'dates' parameter."""
    try:
        days = [dt.date.fromisoformat(v) for v in values]
    except ValueError:
        bad = next(v for v in values if not _is_date(v))
        return None, f"URL parameter 'dates': {_shown(bad)} is not a date (YYYY-MM-DD); showing all dates."
    if len(days) != 2:
        # One date is what the picker sends while a range is being chosen: leave it alone.
        if len(days) > 2:
            return None, "URL parameter 'dates' takes two dates (first and last day); showing all dates."
        return values, None
    a, b = days
    notes = []
    if a > b:
        a, b = b, a
        notes.append(f"{days[0].isoformat()} is after {days[1].isoformat()}")
    if lo and hi and (a < lo or b > hi):
        if b < lo or a > hi:
            return None, (f"URL parameter 'dates': {a.isoformat()} to {b.isoformat()} is outside the store's dates "
                          f"({lo.isoformat()} to {hi.isoformat()}); showing all dates.")
        a, b = max(a, lo), min(b, hi)
        notes.append(f"the store holds {lo.isoformat()} to {hi.isoformat()}")
    if not notes:
        return values, None
    return [a.isoformat(), b.isoformat()], (f"URL parameter 'dates': {'; '.join(notes)}; "
                                            f"showing {a.isoformat()} to {b.isoformat()}.")


def _is_date(v: str) -> bool:
    try:
        dt.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def review(params: Mapping[str, list[str]], facets: dict) -> tuple[Changes, list[str]]:
    """Check URL parameters against the store and the widgets: (changes to make, notices)."""
    changes: Changes = {}
    notices: list[str] = []
    options = {"topics": facets["topics"], "source": facets["sources"], "lang": facets["langs"],
               "role": facets["roles"]}
    for key, values in params.items():
        if key not in KNOWN:
            notices.append(f"Unknown URL parameter {_shown(key)} ignored.")
            changes[key] = None  # and dropped: a link copied from the corrected URL is clean
            continue
        if key in options:
            bad = [v for v in values if v and v not in options[key]]
            if bad:
                good = [v for v in values if v in options[key]]
                notices.append(f"URL parameter '{key}': {', '.join(map(_shown, bad[:3]))} not known; "
                               + (f"showing {', '.join(map(_shown, good[:6]))}." if good else
                                  "showing the default instead."))
                changes[key] = good or None
        elif key in CHOICES:
            allowed, default = CHOICES[key]
            aliases = ALIASES.get(key, {})
            if len(values) == 1 and values[0] in aliases and values[0] not in allowed:
                changes[key] = [aliases[values[0]]]
                continue
            notice = choice_notice(key, values, allowed, default)
            if notice:
                notices.append(notice)
                changes[key] = None
        elif key == "dates":
            fixed, notice = _review_dates(values, facets["date_min"], facets["date_max"])
            if notice:
                notices.append(notice)
                changes[key] = fixed
        elif key == "rolling":
            v = values[-1] if values else ""
            # isdecimal() alone lets '²' and '٣' through, and int() of thousands of digits raises.
            if not (v.isascii() and v.isdigit() and len(v) <= 2 and 1 <= int(v) <= ROLLING_MAX):
                notices.append(f"URL parameter 'rolling': {_shown(v)} is not a whole number from 1 to "
                               f"{ROLLING_MAX}; using 1.")
                changes[key] = None
        elif key == "stacked":
            v = values[-1] if values else ""
            if v.lower() not in ("true", "false") or len(values) > 1:
                notices.append(f"URL parameter 'stacked': {_shown(v)} is not true or false; using false.")
                changes[key] = None
        elif key == "q":
            v = values[-1] if values else ""
            notice = search_notice(v, queries.cap_search(v))
            if notice:
                notices.append(notice)
                changes[key] = [queries.cap_search(v)]
    return changes, notices


_PENDING = "_url_notices"  # notices of the run that corrected the URL, shown by the run after it
_RERUNS = "_url_reruns"


def _settle(changes: Changes, notices: list[str]) -> list[str]:
    """Correct the URL and rerun: bound widgets read the URL the run started with, so only the
    next run's widgets see the corrected values. Returns the notices to show now."""
    if not changes:
        st.session_state[_RERUNS] = 0
        return list(dict.fromkeys(st.session_state.pop(_PENDING, []) + notices))
    qp = st.query_params
    for key, values in changes.items():
        if key in qp:
            del qp[key]
        if values:
            qp[key] = values
    st.session_state[_PENDING] = st.session_state.get(_PENDING, []) + notices
    # Every correction is valid on the next check, so one rerun settles it; the count is a guard.
    st.session_state[_RERUNS] = st.session_state.get(_RERUNS, 0) + 1
    if st.session_state[_RERUNS] <= 2:
        st.rerun()
    return list(dict.fromkeys(st.session_state.pop(_PENDING)))


def check_url(facets: dict) -> list[str]:
    """Correct the URL's parameters before the widgets read them; the notices to show."""
    qp = st.query_params
    return _settle(*review({k: qp.get_all(k) for k in qp.keys()}, facets))


# Each page's own choices bound to the URL (the sidebar's filters are on every page and stay in it).
PAGE_CHOICES = {"trends": ("granularity", "measure", "rolling", "stacked"), "compare": ("group", "compare"),
                "weekly": ("week", "vs"), "leadlag": ("a", "b", "ll_topic")}
_KEPT = "_page_choices"


def returning(kept: Mapping[str, list[str]], present: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The choices a page had when it was left (``kept``) that its URL on return lacks (``present``)."""
    return {k: v for k, v in kept.items() if k not in present and v}


def keep_choices(page: str, arrived: bool) -> None:
    """Keep a page's choices for the session, and give them back when the page is reopened.

    Streamlit drops a page's URL-bound choices from the address when another page opens (its
    widgets are gone), and pushes that shortened address into the history: Trends, left for
    Compare and reopened by its link or the Back button, came back weekly counts, not the monthly
    shares it showed. ``arrived``: this run opens the page from another. A new session (a link,
    a reload) starts from its URL alone."""
    group = "trends" if page in ("", "overview", "trends") else page  # the default page's path is ""
    keys = PAGE_CHOICES.get(group)
    if not keys:
        return
    kept = st.session_state.setdefault(_KEPT, {})
    qp = st.query_params
    present = {k: qp.get_all(k) for k in keys if k in qp}
    if arrived:
        missing = returning(kept.get(group, {}), present)
        if missing:
            # In one change: each change of the address is a step of the browser's history.
            qp.update(missing)
            st.rerun()  # bound widgets read the URL the run started with
    kept[group] = present


def page_notice(url: str | None, paths: list[str], shown: str, base: str = "",
                hidden: tuple[str, ...] = ()) -> str | None:
    """The notice for a URL whose page path names no page (``/status``): Streamlit then runs the
    default page, ``shown``, and says nothing. ``paths``: the pages' URL paths (named in the
    notice); ``hidden``: paths that are pages too but not listed (``/trends``, Trends again);
    ``base``: the server's base URL path, which comes before them."""
    if not url:
        return None
    path = unquote(urlsplit(url).path).strip("/")
    base = base.strip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base):].strip("/")
    if not path or path in paths or path in hidden:
        return None
    return (f"There is no page {_shown('/' + path)}: showing {shown} instead. The pages are "
            + ", ".join(f"/{p}" for p in paths) + ".")


def check_choices(choices: Mapping[str, tuple[list[str], str]]) -> list[str]:
    """Like :func:`check_url` for a page's own choice parameters (``{key: (options, default)}``)."""
    qp = st.query_params
    changes: Changes = {}
    notices = []
    for key, (options, default) in choices.items():
        if key in qp:
            notice = choice_notice(key, qp.get_all(key), options, default)
            if notice:
                notices.append(notice)
                changes[key] = None
    return _settle(changes, notices)


def search_notice(raw: str, used: str) -> str | None:
    """The notice for a search that was shortened to ``used``, else None."""
    if used == raw.strip():
        return None
    return (f"Search shortened to its first {queries.MAX_SEARCH_CHARS} characters and "
            f"{queries.MAX_SEARCH_TERMS} words or \"phrases\": searching for {_shown(used, 60)}.")


def follow_default(key: str, default: object) -> None:
    """Keep a keyed widget on its default when the default changes, unless the user chose a value.

    A keyed widget keeps its value when its default changes: after a run added days (or a newer
    week), an open session went on charting up to the store's old last day, or showing last week's
    brief, until a new session (the Store page giving the new dates). A value the user chose, one
    that differs from the default it was drawn with, is left as it is. Call before drawing the widget."""
    mark = f"_{key}_default"  # the default the widget was last drawn with
    before = st.session_state.get(mark)
    if before is not None and not _same(before, default) and _same(st.session_state.get(key), before):
        st.session_state[key] = default
    st.session_state[mark] = default


def _same(a: object, b: object) -> bool:
    """Equal values, a date range given as a list or as a tuple alike."""
    return tuple(a) == tuple(b) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else a == b


def sidebar_filters(facets: dict) -> queries.Filters:
    """Draw the filter widgets and return the Filters they describe."""
    sb = st.sidebar
    sb.header("Filters")
    topics = sb.multiselect("Topics", facets["topics"], default=facets["topics"], key="topics",
                            bind="query-params", help="Topics to chart and to list statements for.")
    if not topics:
        sb.info("No topic selected: every topic counts. Charts show them all, and Statements lists every "
                "statement, tagged or not.")
    lo, hi = facets["date_min"], facets["date_max"]
    follow_default("dates", (lo, hi))
    dates = sb.date_input("Date range", value=(lo, hi), min_value=lo, max_value=hi, key="dates",
                          bind="query-params", help="First and last day to include.")
    sources = sb.multiselect("Source", facets["sources"], default=[], key="source", bind="query-params",
                             placeholder="all sources")
    langs = sb.multiselect("Language", facets["langs"], default=[], key="lang", bind="query-params",
                           placeholder="all languages")
    roles = sb.multiselect("Speaker role", facets["roles"], default=[], key="role", bind="query-params",
                           placeholder="all roles", help="head of state, official, press (questions), other")
    speakers = sb.multiselect("Speaker", facets["speakers"], default=[], key="speaker", bind="query-params",
                              placeholder="all speakers", accept_new_options=True)
    search = sb.text_input("Search text", key="q", bind="query-params", max_chars=queries.MAX_SEARCH_CHARS,
                           help='Words that must all occur (accents ignored); "quoted phrase" for a phrase. '
                                f"Narrows the charts too. At most {queries.MAX_SEARCH_TERMS} words or phrases.")
    # The box holds at most MAX_SEARCH_CHARS characters; the number of words is capped here.
    used = queries.cap_search(search)
    notice = search_notice(search, used)
    if notice:
        sb.warning(md_text(notice))
    if used:
        sb.caption(md_text(queries.search_reading(used)))
    date_from, date_to = (dates[0], dates[1]) if isinstance(dates, (tuple, list)) and len(dates) == 2 else (lo, hi)
    return queries.Filters(
        date_from=date_from, date_to=date_to, sources=tuple(sources), langs=tuple(langs), roles=tuple(roles),
        speakers=tuple(speakers), search=used, topics=tuple(topics),
    )


def page_url(base: str | None, page_path: str, params: Mapping[str, list[str]]) -> str | None:
    """The link that reopens a page as it is shown: the app's address, the page's path and the
    query parameters (the widgets bound to the URL and the sidebar's filters); None without an
    address (a script run outside a browser)."""
    if not base:
        return None
    base = base.rstrip("/")
    query = urlencode([(k, v) for k, values in params.items() for v in values])
    return base + "/" + page_path + ("?" + query if query else "")


def current_url() -> str | None:
    """``page_url`` of the page this script run shows (its path as the app's entry point noted it).
    The app's root is taken from the browser's address and the server's base path: Streamlit
    leaves some page paths in ``st.context.url`` (a hidden page's, an unknown one's)."""
    qp = st.query_params
    url = st.context.url
    if not url:
        return None
    parts = urlsplit(url)
    prefix = (st.get_option("server.baseUrlPath") or "").strip("/")
    root = f"{parts.scheme}://{parts.netloc}" + (f"/{prefix}" if prefix else "")
    return page_url(root, st.session_state.get("page_path", ""), {k: qp.get_all(k) for k in qp})
