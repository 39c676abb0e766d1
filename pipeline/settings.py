"""Settings, declared once as data with help text; read by the CLI and the dashboard."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UsageError

# Every path the project ships, defined here only.
ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "pipeline"
MODELS_DIR = PACKAGE_DIR / "models"
DEFAULT_MODEL = MODELS_DIR / "tagger.skops"
DEFAULT_TOPICS = PACKAGE_DIR / "topics.toml"
LABELS_DIR = PACKAGE_DIR / "labels"  # the labelled statements the tagger learns from
AUDIT_DIR = PACKAGE_DIR / "audit"  # the audit sample, never learnt from
DEFAULT_STORE = "data/store"  # relative: the store is where the user works


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str
    help: str

    def get(self) -> str:
        # Set but empty (`TOPICS_STORE=`, a blank line in an env file) is the default, as for an
        # unset variable: an empty path would be the current folder.
        return os.environ.get(self.env) or self.default


SETTINGS = {
    s.name: s for s in (
        Setting("store", "TOPICS_STORE", DEFAULT_STORE,
                "Folder of the store (SQLite database tracker.db inside it)."),
        Setting("model", "TOPICS_MODEL", str(DEFAULT_MODEL),
                "Tagger model file (skops format): the default of every --model and of train --output, and "
                "the model status and the dashboard use."),
        Setting("topics", "TOPICS_FILE", str(DEFAULT_TOPICS),
                "Topics file: names, descriptions, bilingual cue words and exclusions."),
        Setting("snapshots", "TOPICS_SNAPSHOTS", "",
                "Folder of weekly snapshots; empty means 'snapshots' inside the store folder (each store "
                "its own). A folder holds the snapshots of one store only."),
        Setting("host", "TOPICS_HOST", "127.0.0.1",
                "Address the dashboard listens on (localhost only unless changed)."),
        Setting("port", "TOPICS_PORT", "8501", "Port of the dashboard."),
        Setting("jobs", "TOPICS_JOBS", "2",
                "Processes that fit the tagger's topics in parallel (train, retrain and the dashboard's Retrain, "
                "evaluate --cv / --since)."),
        Setting("kernel", "TOPICS_KERNEL", "1",
                "1: tag with the compiled loops when they are built (make setup builds them with the machine's C "
                "compiler); 0: always the NumPy path. Both give the same scores, bit for bit."),
        Setting("min_statements", "TOPICS_MIN_STATEMENTS", "20",
                "Periods with fewer statements than this are marked as thin in charts."),
        Setting("labels", "TOPICS_LABELS", str(LABELS_DIR),
                "Folder of labelled statements the tagger learns from: what train, retrain, evaluate --cv / "
                "--since and the dashboard's Retrain read (with the label log), and whose texts a run counts "
                "with their people-given labels in corrected shares."),
        Setting("shared", "TOPICS_SHARED", "",
                "Folder of the data not shipped with the project: the evaluation set (labels/dev.jsonl), which "
                "retrain scores and which retrain, train --with-log and labels queue leave out, and the full "
                "corpus (corpus/) the tests use; empty means 'shared' beside the project folder."),
    )
}


def get(name: str) -> str:
    return SETTINGS[name].get()


def min_statements() -> int:
    """``min_statements`` as a number; UsageError naming its variable when it is not a whole number
    of 0 or more (the Trends page would fail on it)."""
    raw = get("min_statements").strip()
    if not (raw.isascii() and raw.isdigit()):
        raise UsageError(f"TOPICS_MIN_STATEMENTS must be a whole number of statements (0 or more), not {raw!r}")
    return int(raw)


def labels_dir() -> Path:
    """The folder of labelled statements (the ``labels`` setting): one folder for training, evaluating
    and a run's labelled-set lookup, so that a model and the store's counts agree on what was learnt."""
    return Path(get("labels"))


def snapshots_dir(store: str) -> Path:
    """Where weekly snapshots go: the setting, or 'snapshots' inside the store folder.

    Inside, not beside: two stores in one folder used to share one 'snapshots' folder and
    each took the other's briefs for its own.
    """
    explicit = get("snapshots")
    return Path(explicit) if explicit else Path(store) / "snapshots"


def old_snapshots_dir(store: str) -> Path | None:
    """The folder earlier versions wrote snapshots to by default ('snapshots' beside the store
    folder, shared by every store there), when it exists and the default is in use. It is no
    longer read: its briefs may be another store's."""
    old = Path(store).resolve().parent / "snapshots"
    return old if not get("snapshots") and old.is_dir() else None


def shared_dir() -> Path:
    """The folder of the data not shipped with the project: the setting, or 'shared' beside the
    project folder."""
    explicit = get("shared")
    return Path(explicit) if explicit else ROOT.parent / "shared"
