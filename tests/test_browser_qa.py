"""Defects found by driving the dashboard in Chromium (interaction QA), checked in Chromium."""

from __future__ import annotations

from dashboard.browser import after_rerun, open_page

CHART = ".js-plotly-plot .scatterlayer .point"


def _checked(page) -> list[str]:
    return [r.inner_text() for r in page.get_by_role("radio").all() if r.get_attribute("aria-checked") == "true"]


def test_a_page_left_and_reopened_keeps_its_choices(page, dashboard_server):
    """QA: Trends showing monthly shares, left for Compare and reopened with the Back button (or its
    link in the sidebar), came back as weekly counts: Streamlit drops a page's choices from the
    address when another page opens. Reopened in the same session, a page shows its choices again."""
    open_page(page, dashboard_server + "/?granularity=month&measure=share&topics=trade", CHART)
    after_rerun(page, lambda: page.get_by_role("link", name="Compare").click(), ".js-plotly-plot")
    after_rerun(page, lambda: page.get_by_role("radio", name="count").click(), ".js-plotly-plot")
    page.go_back()  # the address Streamlit pushed when Trends was left: its choices gone
    page.wait_for_function("() => location.search.includes('granularity=month')", timeout=60000)
    page.wait_for_selector(CHART, timeout=60000)
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           ".getAttribute('data-test-script-state') === 'notRunning'", timeout=60000)
    assert _checked(page) == ["month", "share"]
    assert "measure=share" in page.url and "topics=trade" in page.url
    # By the sidebar's links: Compare keeps its count, Trends its monthly shares.
    after_rerun(page, lambda: page.get_by_role("link", name="Compare").click(), ".js-plotly-plot")
    page.wait_for_function("() => location.search.includes('compare=count')", timeout=60000)
    assert "count" in _checked(page)
    after_rerun(page, lambda: page.get_by_role("link", name="Trends").click(), CHART)
    page.wait_for_function("() => location.search.includes('granularity=month')", timeout=60000)
    assert _checked(page) == ["month", "share"]
