"""Topic colours: one palette for the dashboard's charts and the briefs' report pages, so that a
topic has the same colour wherever a reader meets it."""

from __future__ import annotations

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
OTHER = "#7f7f7f"  # a topic outside the list given (a series of the chart's own, not a topic)


def colour(topics: list[str], topic: str) -> str:
    """The colour of ``topic`` among ``topics``: by its place in their alphabetical order, so the
    same topics get the same colours whatever order a chart or a brief lists them in."""
    return PALETTE[sorted(topics).index(topic) % len(PALETTE)] if topic in topics else OTHER
