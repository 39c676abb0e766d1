"""Where a number comes from: what a citation of a chart or a table needs so that a reader can check
it later (the store and its state, the models that tagged it, the audit that corrected it, the
filters, the link), and the citation text itself.

A live store changes with every run; the citation says which state it describes. For a copy that
never changes, the weekly briefs (``snapshot``) are the thing to cite.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.display import counted

if TYPE_CHECKING:  # queries imports pandas: not for a run, whose briefs' reports cite themselves
    from pipeline import queries

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@functools.cache
def software() -> str:
    """The project's name and version, as ``pyproject.toml`` declares them, and in a git checkout
    its commit (read once: a cold run writes hundreds of briefs, each naming it)."""
    try:
        meta = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
        name = f"{meta['name']} {meta['version']}"
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        name = "topic-tracker"
    # Every commit declares the same version, and the code changes the numbers (an interval's
    # draws, a share's rules): a reader needs the commit to compute a cited number again.
    commit = _commit(PYPROJECT.parent)
    return f"{name} (commit {commit})" if commit else name


def _commit(root: Path) -> str | None:
    """The commit of the git checkout ``root`` is the top of (12 hex digits; '+modified' when its
    tracked code under pipeline/ differs from it), or None: not a checkout, or no git."""
    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout if r.returncode == 0 else None

    out = (git("rev-parse", "--show-toplevel", "HEAD") or "").split("\n")
    # The project copied into another repository is not that repository's commit.
    if len(out) < 2 or not out[0] or Path(out[0]).resolve() != root.resolve():
        return None
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "pipeline")
    return out[1][:12] + ("+modified" if changed else "")


@dataclass(frozen=True)
class Provenance:
    """The state of the store (and of the audit) a number was computed from."""

    store_id: str | None
    first_date: dt.date | None
    last_date: dt.date | None
    last_run: str | None  # when the store's last run ended (UTC), None before any
    models: dict[str, int] = field(default_factory=dict)  # model version -> statements it tagged
    audit: dict | None = None  # model_version, statements, last_audit: only for corrected numbers
    software: str = ""

    @property
    def statements(self) -> int:
        """The store's statements: every one carries one model's tags."""
        return sum(self.models.values())


def gather(conn: sqlite3.Connection, audit=None, models: dict[str, int] | None = None) -> Provenance:
    """The store's provenance; ``audit`` (``pipeline.audit.Audit``) when the numbers are corrected,
    ``models`` when the caller already has ``queries.tagging_models`` (a scan of every statement)."""
    from pipeline import queries
    from pipeline.store import read_store_id

    first, last = queries.day_span(conn)
    models = queries.tagging_models(conn) if models is None else models
    audited = None
    if audit is not None:
        audited = {"model_version": audit.model_version, "statements": len(audit.ids),
                   "last_audit": audit.last_audit or None}
    return Provenance(store_id=read_store_id(conn), first_date=first, last_date=last,
                      last_run=queries.last_finished_run(conn), models=dict(models), audit=audited,
                      software=software())


PERIODLY = {"day": "Daily", "week": "Weekly", "month": "Monthly"}
MEASURES = {"count": "number of statements on each topic, as tagged",
            "share": "share of statements on each topic, as tagged",
            "tagged": "number and share of statements on each topic, as tagged",
            "corrected": "share of statements on each topic, corrected for the tagger's errors"}


def trend_what(granularity: str, measure: str) -> str:
    """What a trend's numbers are, for its citation: 'Weekly share of statements on each topic, as
    tagged' (``measure``: a key of ``MEASURES``)."""
    return f"{PERIODLY[granularity]} {MEASURES[measure]}"


def events_what(measure: str) -> str:
    """What a list of spikes is, for its citation (``measure``: 'corrected' or 'raw')."""
    return f"Spikes in the {measure} weekly share of topics per source"


def filters_text(f: queries.Filters) -> str:
    """The filters in words, in the order the sidebar shows them; 'all statements' when none."""
    parts = []
    if f.date_from and f.date_to:
        parts.append(f"dates {f.date_from.isoformat()} to {f.date_to.isoformat()}")
    elif f.date_from or f.date_to:
        parts.append(f"dates from {f.date_from.isoformat()}" if f.date_from else f"dates up to {f.date_to.isoformat()}")
    for label, values in (("topics", f.topics), ("sources", f.sources), ("languages", f.langs),
                          ("roles", f.roles), ("speakers", f.speakers)):
        if values:
            parts.append(f"{label} {', '.join(values)}")
    if f.search:
        parts.append(f"search '{f.search}'")
    return "; ".join(parts) if parts else "all statements"


def utc_text(stamp: str) -> str:
    """'2026-12-07 11:18 UTC' from a run's ISO time stamp (as stored when it is not one)."""
    try:
        t = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _models_text(models: dict[str, int]) -> str:
    if not models:
        return "no model (empty store)"
    if len(models) == 1:
        return f"model {next(iter(models)) or 'unknown'}"
    return "models " + ", ".join(f"{v or 'unknown'} ({n:,} statements)" for v, n in models.items())


def citation(p: Provenance, *, what: str, f: queries.Filters, url: str | None = None,
             accessed: dt.date | None = None) -> str:
    """A citation of ``what`` (e.g. 'Weekly corrected share of statements per topic') as computed
    from the store in state ``p`` with filters ``f``: enough to find the same numbers again."""
    accessed = accessed or dt.date.today()
    span = (f"dated {p.first_date.isoformat()} to {p.last_date.isoformat()}" if p.first_date and p.last_date
            else "no dates")
    run = f"; last run ended {utc_text(p.last_run)}" if p.last_run else ""
    text = (f"{what}. Filters: {filters_text(f)}. Computed by {p.software or software()} from store "
            f"{p.store_id or '(no id)'} ({p.statements:,} statements {span}{run}), tagged by "
            f"{_models_text(p.models)}.")
    if p.audit:
        last = f", last coded {p.audit['last_audit']}" if p.audit.get("last_audit") else ""
        text += (f" Corrected for the tagger's errors with the audit sample ({p.audit['statements']:,} "
                 f"statements coded with the codebook{last}; its scores from model {p.audit['model_version']}); "
                 "intervals are 95 %.")
    if url:
        text += f" {url}"
    return text + f" (accessed {accessed.isoformat()})."


def brief_citation(summary: dict, digest: str | None = None) -> str:
    """A citation of a frozen weekly brief (``snapshot``), from its summary: the week and what it
    holds, when and from which store and models it was made, the audit that corrected it, and the
    SHA-256 of its summary.json (``digest``), with which a reader can check that the copy they
    hold is the one cited."""
    corr = summary.get("correction") or {}
    made = f"made {utc_text(summary['made_at'])}" if summary.get("made_at") else "made"
    by = f" by {summary['software']}" if summary.get("software") else ""
    models = summary.get("model_versions") or []
    text = (f"Weekly brief {summary['week']} ({summary['start']} to {summary['end']}: "
            f"{counted(summary['statements'], 'statement', fmt=',')} from "
            f"{counted(summary['documents'], 'document', fmt=',')}; "
            f"sources {', '.join(summary['sources']) or 'none'}), "
            f"{made}{by} from store {summary.get('store_id') or '(no id)'}, tagged by "
            f"{'model' if len(models) == 1 else 'models'} {', '.join(models) or 'unknown'}.")
    if corr.get("audit_statements"):
        last = f", last coded {corr['audit_coded_until']}" if corr.get("audit_coded_until") else ""
        text += (f" Corrected shares with the audit sample ({corr['audit_statements']:,} statements coded with "
                 f"the codebook{last}; its scores from model {corr.get('model_version')}); intervals are 95 %.")
    if digest:
        text += f" summary.json SHA-256 {digest}."
    return text
