"""The tag step is a pure function over batches: a local Dask cluster gives identical results."""

from __future__ import annotations

import sys
import types

import pytest

from pipeline.readers import read_path
from pipeline.segment import segment
from pipeline.tagger import DEFAULT_MODEL, tag_batch
from tests.conftest import SEEDS


def test_tagging_on_a_local_dask_cluster_matches_local_tagging(monkeypatch):
    distributed = pytest.importorskip("distributed")
    # Worker processes are spawned and re-import the parent's __main__; under pytest that can be
    # a Streamlit script left there by AppTest. Give them a neutral one.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    files = sorted((SEEDS / "mananeras" / "2026").glob("*.txt"))[:6] + sorted(
        (SEEDS / "whitehouse").rglob("*.md"))[:6]
    texts = [s.text for f in files for s in segment(read_path(f).documents[0])]
    assert len(texts) > 1000
    batches = [texts[i:i + 250] for i in range(0, len(texts), 250)]
    local = [r for b in batches for r in tag_batch(b, str(DEFAULT_MODEL))]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
        futures = client.map(tag_batch, batches, model_path=str(DEFAULT_MODEL), pure=True)
        remote = [r for rs in client.gather(futures) for r in rs]
        workers = len(client.scheduler_info()["workers"])
    assert workers == 2
    assert remote == local
    assert sum(bool(r["topics"]) for r in local) > 50
