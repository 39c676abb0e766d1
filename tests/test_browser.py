"""Real-browser tests: Playwright driving Debian's Chromium against the real dashboard."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT

SHOTS = ROOT / "test-artifacts"


def _wait_chart(page):
    page.wait_for_selector(".js-plotly-plot .scatterlayer .point", timeout=60000)


def test_load_filter_select_a_point_and_read_the_drilldown(page, dashboard_server):
    SHOTS.mkdir(exist_ok=True)
    page.goto(dashboard_server + "/")
    _wait_chart(page)
    page.screenshot(path=str(SHOTS / "trends.png"))
    assert page.get_by_text("Topics over time").is_visible()
    # Change a filter through the URL-bound widget: the chart follows and the URL keeps it.
    page.goto(dashboard_server + "/?topics=trade&measure=share")
    _wait_chart(page)
    legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert legend == ["trade"]
    # Click the highest point of the chart: the statements behind it appear below.
    points = page.locator(".js-plotly-plot .scatterlayer .point")
    assert points.count() > 10
    points.nth(points.count() // 2).click(force=True)
    page.wait_for_selector("text=Statements on trade", timeout=30000)
    page.wait_for_selector("div.stmt", timeout=30000)
    page.screenshot(path=str(SHOTS / "drilldown.png"), full_page=True)
    assert page.locator("div.stmt").count() >= 1
    assert "topics=trade" in page.url


def test_weekly_report_renders_with_no_network_request(page, seed_store, tmp_path):
    from pipeline import snapshot

    folder = snapshot.write_week(str(seed_store), tmp_path / "snaps", "2026-W03")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(Path(folder / "report.html").as_uri())
    assert page.title() == "Weekly brief 2026-W03"
    assert page.locator("svg rect").count() > 8
    assert page.get_by_text("Biggest movers").is_visible()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "weekly-report.png"), full_page=True)
    assert [u for u in requests if not u.startswith("file://")] == []


def test_a_citations_link_reopens_the_chart_as_it_was_shown(page, dashboard_server):
    # The link in "Cite this" is the address the browser shows, with the page and every setting:
    # opened, it gives the same chart.
    page.goto(dashboard_server + "/trends?topics=trade&measure=share&granularity=month")
    _wait_chart(page)
    warnings = page.locator("[data-testid='stAlertContentWarning']").all_inner_texts()
    assert warnings == [], warnings  # /trends is a page
    page.get_by_text("Cite this").click()
    code = page.locator("[data-testid='stExpander'] code").first
    code.wait_for(timeout=30000)
    text = " ".join(code.inner_text().split())
    assert text.startswith("Monthly share of statements on each topic, as tagged. Filters: dates ")
    link = next(w for w in text.split() if w.startswith("http"))
    assert link.startswith(dashboard_server + "/trends?") and {"topics=trade", "measure=share",
                                                             "granularity=month"} <= set(link.split("?")[1].split("&"))
    page.goto(link)
    _wait_chart(page)
    legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert legend == ["trade"]
    assert page.get_by_role("radio", name="month").is_checked() or "granularity=month" in page.url


# Text the page cut with an ellipsis, and buttons or labels whose right end something else covers
# (a column too narrow for them clips them): both hide words a reader needs.
_TRUNCATED = """() => [...document.querySelectorAll('[data-testid="stMain"] *')].filter(e =>
    e.textContent.trim() && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).textOverflow === 'ellipsis'
).map(e => e.textContent.trim().slice(0, 60))"""
_CLIPPED = """() => [...document.querySelectorAll('[data-testid="stMain"] button, [data-testid="stMain"] label')]
.filter(b => {
    const r = b.getBoundingClientRect();
    if (!r.width || r.top < 0 || r.bottom > innerHeight || !b.textContent.trim()) return false;
    const hit = document.elementFromPoint(r.right - 3, r.top + r.height / 2);
    return !(hit && (b.contains(hit) || hit.contains(b)));
}).map(b => b.textContent.trim().slice(0, 40))"""


# Tables wider than their place, read through a scroll bar (columns out of sight).
_SCROLLED = """() => [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')]
.filter(e => e.scrollWidth > e.clientWidth + 1).length"""


def test_no_page_cuts_its_words_in_a_1024_pixel_window(page, dashboard_server):
    # A laptop window with the sidebar open: in fixed columns Trends clipped its measure's
    # "corrected", the Store page cut its dates to "2019-…" and Model versions its retrain controls;
    # two weeks compared hid their changes' counts behind a scroll bar. (Reliability's and Lead & lag's
    # tables of many numbers scroll by design.)
    page.set_viewport_size({"width": 1024, "height": 900})
    for path, scrolls in (("", False), ("store", False), ("versions", False), ("compare", False),
                          ("weekly", False), ("weekly?week=2026-W13&vs=2026-W12", False), ("events", False),
                          ("statements", False), ("leadlag", True), ("reliability", True)):
        page.goto(f"{dashboard_server}/{path}")
        page.wait_for_selector("h1", timeout=60000)
        page.wait_for_timeout(1500)
        page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60000)
        assert page.locator("[data-testid='stException']").count() == 0, path
        assert page.evaluate(_TRUNCATED) == [], path
        assert page.evaluate(_CLIPPED) == [], path
        if not scrolls:
            assert page.evaluate(_SCROLLED) == 0, path
