"""Tagging: texts in, topics and scores out. Pure and batchable; knows nothing of files or stores."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError, OutputError
from pipeline.settings import DEFAULT_MODEL
from pipeline.stages import Tagged, TaggedBatch

SCORE_DECIMALS = 4  # scores are stored, shown and compared with thresholds at this precision

# Only these modules' types may be rebuilt from a model file; anything else is refused.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "pipeline.tagger.", "builtins.")


@dataclass(frozen=True)
class LoadedModel:
    """A tagger and what identifies it: its version (file hash) and its topics."""

    estimator: object
    version: str
    topics: tuple[str, ...]
    topics_hash: str
    info: dict

    def tag(self, texts: list[str]) -> list[Tagged]:
        """Tag a batch of texts."""
        return self.tag_arrays(texts).tagged() if texts else []

    def tag_arrays(self, texts: list[str]) -> TaggedBatch:
        """Tag a batch of texts: the verdicts as arrays (what a run stores)."""
        if not texts:
            k = len(self.topics)
            return TaggedBatch(self.topics, np.zeros((0, k)), np.zeros((0, k), dtype=bool))
        scores = self.scores_matrix(texts)
        return TaggedBatch(self.topics, scores, scores >= self.estimator.thresholds_)

    def scores_matrix(self, texts: list[str]) -> np.ndarray:
        """Each text's score per topic, to ``SCORE_DECIMALS`` places: the scores a run stores and
        every command compares with the thresholds. Tags follow the rounded score, so that a stored
        score that reaches its threshold is always tagged (deciding on the unrounded score left 4
        statements of the corpus showing a score equal to the threshold, untagged)."""
        return np.round(self.estimator.predict_proba(texts), SCORE_DECIMALS)

    def explain(self, text: str, topic: str, k: int = 6) -> list[str]:
        return self.estimator.explain(text, topic, k)

    def unseen_share(self, texts: list[str]) -> float:
        """The share of the texts' words (after normalisation) that training never saw: when it
        grows, the tagger reads a vocabulary it has not learnt (drift)."""
        from pipeline.tagger.text import normalise_many

        index = self.estimator.token_index_
        tokens = [t for text in normalise_many(list(texts)) for t in text.split()]
        return sum(t not in index for t in tokens) / len(tokens) if tokens else 0.0


def tag_batch(texts: list[str], model_path: str | Path = DEFAULT_MODEL) -> list[dict]:
    """Tag one batch: a pure function of its texts and the model file, for any batch engine.

    Each worker loads the model once (cached) and returns plain dicts, so Dask, Spark or a
    process pool can run it on many machines unchanged.
    """
    model = load_model(str(model_path))
    return [{"topics": list(t.topics), "scores": t.scores} for t in model.tag(list(texts))]


def save_model(estimator, path: Path, info: dict) -> str:
    """Write the model with skops (no pickle) and its info beside it; returns the version."""
    tmp = path.with_suffix(".tmp")
    side, side_tmp = path.with_suffix(".json"), path.with_suffix(".json.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_hash = _dump(estimator, tmp)
        version = file_hash[:12]
        side_tmp.write_text(json.dumps(dict(info, version=version), indent=2, ensure_ascii=False) + "\n")
        tmp.replace(path)
        side_tmp.replace(side)
    except OSError as exc:  # a folder that cannot be written, a full disk: after the whole fit
        for leftover in (tmp, tmp.with_name(tmp.name + ".canon"), side_tmp):
            leftover.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc}); the model in place is "
                          "unchanged") from exc
    write_compiled_beside(estimator, path, file_hash)
    return version


def _dump(estimator, tmp: Path) -> str:
    """Write the model's skops file to ``tmp``, canonical; returns the file's sha256."""
    import zipfile

    import skops.io as sio

    # Compressed: the vocabularies are text and shrink several-fold. How many processes fitted the
    # model is no part of it: saved as None, so the same labels give the same file whatever --jobs was.
    jobs = getattr(estimator, "n_jobs", None)
    if jobs is not None:
        estimator.set_params(n_jobs=None)
    try:
        sio.dump(estimator, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    finally:
        if jobs is not None:
            estimator.set_params(n_jobs=jobs)
    from pipeline.tagger.canonical import canonicalise

    canonicalise(tmp)  # the same fit, the same bytes: retraining on the same labels gives the same version
    return hashlib.sha256(tmp.read_bytes()).hexdigest()


@dataclass(frozen=True)
class ModelInfo:
    """What identifies a model file, read without loading the model."""

    version: str
    topics: tuple[str, ...]
    topics_hash: str
    info: dict


def model_info(path: str | Path = DEFAULT_MODEL) -> ModelInfo:
    """Version (hash of the file) and topics; loads the model only when its sidecar is stale."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no model file; run `python -m pipeline train` to build one")
    version = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    side = p.with_suffix(".json")
    try:
        info = json.loads(side.read_text())
        if info.get("version") == version and info.get("topics"):
            return ModelInfo(version, tuple(info["topics"]), info.get("topics_hash", ""), info)
    except (OSError, ValueError):
        pass
    m = load_model(str(p))
    return ModelInfo(m.version, m.topics, m.topics_hash, m.info)


def compiled_path(path: Path, version: str) -> Path:
    """Where the compiled (plain arrays) form of a model file of this version lives."""
    return path.with_name(f"{path.stem}.{version}.npz")


def write_compiled_beside(estimator, path: Path, file_hash: str) -> None:
    """Write the compiled form next to the model file (whose sha256 is ``file_hash``); drop those
    of older versions.

    Best effort: a read-only folder only means every load goes through skops.
    """
    from pipeline.tagger.scoring import write_compiled

    target = compiled_path(path, file_hash[:12])
    try:
        write_compiled(estimator, target, file_hash)
        for old in path.parent.glob(f"{path.stem}.*.npz"):
            if old != target:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def load_model(path: str | Path = DEFAULT_MODEL) -> LoadedModel:
    """Load a model file safely (cached per process while the file stays the same: a file rewritten
    at the same path, e.g. by `train`, is loaded again)."""
    p = Path(path)
    try:
        info = p.stat()
    except OSError as exc:
        raise ModelError(f"{p}: no model file; run `python -m pipeline train` to build one") from exc
    return _load_model(str(p), info.st_mtime_ns, info.st_size)


@lru_cache(maxsize=4)
def _load_model(path: str, mtime_ns: int, size: int) -> LoadedModel:
    """Load a model file safely (``mtime_ns`` and ``size`` only key the cache).

    The skops file is the model. Its compiled form (``tagger.<version>.npz``: plain arrays read
    with ``allow_pickle=False``, so loading it runs no code) is written beside it on first use and
    read instead afterwards: that skips importing scikit-learn and rebuilding the vocabularies,
    5 s -> 0.2 s per process. A compiled file that is damaged, made for another model file, or
    whose arrays were changed after it was written (it carries a digest of them and of the model
    file's hash) is ignored and rewritten.
    """
    from pipeline.tagger.scoring import read_compiled

    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no model file; run `python -m pipeline train` to build one")
    data = p.read_bytes()
    file_hash = hashlib.sha256(data).hexdigest()
    version = file_hash[:12]
    est = None
    fast = compiled_path(p, version)
    if fast.exists():
        try:
            # Bound to the whole hash of the model file and to a digest of its own arrays.
            est = read_compiled(fast, file_hash)
        except Exception:  # noqa: BLE001 - any damage means the same: rebuild it from the skops file
            est = None
    rebuilt = est is None
    if rebuilt:
        est = _load_skops(p, data)
    try:
        # A model written by another version of the code fails here, not in the middle of a run.
        est.predict_proba(["smoke test"])
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        raise ModelError(f"{p}: model does not work with this version of the code ({type(exc).__name__}: "
                         f"{exc}); run `python -m pipeline train`") from exc
    if rebuilt:
        write_compiled_beside(est, p, file_hash)
    info_path = p.with_suffix(".json")
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    return LoadedModel(est, version, tuple(est.topic_names_), info.get("topics_hash", ""), info)


def _load_skops(p: Path, data: bytes):
    """Rebuild the estimator from a skops file, allowing only trusted types."""
    import skops.io as sio

    try:
        # skops trusts scikit-learn, NumPy and SciPy types by itself; ours is the only other one.
        return sio.loads(data, trusted=["pipeline.tagger.model.TopicTagger"])
    except Exception as exc:  # skops raises several types: untrusted types, corrupt file
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception:  # noqa: BLE001 - not a skops file at all
            raise ModelError(f"{p}: not a skops model file ({exc})") from exc
        if not untrusted:  # readable, trusted, and still failing: a damaged or foreign file
            raise ModelError(f"{p}: not a loadable skops model file ({exc})") from exc
        bad = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)] or untrusted
        raise ModelError(f"{p}: refuses to load types from untrusted modules: {', '.join(bad[:5])}") from exc


load_model.cache_clear = _load_model.cache_clear  # tests and long-lived processes start afresh
