"""A report to look at without training anything: four untrained baselines on ``digits``.

``build_demo(folder)`` makes a workspace in ``folder/workspace``, submits nearest-neighbour searches
on raw pixels (float), on 16 PCA components (float) and on two binary codes (pixel signs and a random
hyperplane hash, Hamming distance), then writes the competition report to ``folder/report``.
It regenerates the README's figures::

    python -c "from harness.report.demo import build_demo; print(build_demo('/tmp/bench-demo').path)"
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.report.pages import ReportResult, write_report
from harness.workspace import Workspace


def build_demo(folder: str | Path, competition: str = "digits") -> ReportResult:
    """Score four baselines on ``competition`` in a fresh workspace under ``folder``; write its report."""
    from harness.competition import open_competition
    from harness.submission import write_submission
    from harness.submit import submit

    folder = Path(folder)
    workspace = Workspace.from_env(folder / "workspace")
    workspace.root.mkdir(parents=True, exist_ok=True)
    comp = open_competition(workspace, competition)
    query, gallery, k = comp.query(), comp.gallery(), comp.spec.k
    xq = query.load(np.arange(len(query))).mean(axis=1).reshape(len(query), -1)  # grey: one channel
    xg = gallery.load(np.arange(len(gallery))).mean(axis=1).reshape(len(gallery), -1)
    mean = xg.mean(axis=0)
    _, _, components = np.linalg.svd(xg - mean, full_matrices=False)
    planes = np.random.default_rng(0).standard_normal((xg.shape[1], 32))

    baselines = {
        "raw pixels": ("float", xq, xg),
        "pca-16": ("float", (xq - mean) @ components[:16].T, (xg - mean) @ components[:16].T),
        "pixel signs": ("binary", np.sign(xq - mean), np.sign(xg - mean)),
        "hyperplane hash 32": ("binary", np.sign((xq - mean) @ planes), np.sign((xg - mean) @ planes)),
    }
    for name, (kind, q, g) in baselines.items():
        start = time.perf_counter()
        order = _search(q.astype(np.float32), g.astype(np.float32), k)
        ms = 1000 * (time.perf_counter() - start) / len(q)
        size = g.shape[1] // 8 if kind == "binary" else 4 * g.shape[1]
        path = write_submission(folder / f"{name.replace(' ', '-')}.csv", query.ids,
                                [[gallery.ids[j] for j in row] for row in order])
        fields = {"method": "baseline", "code_kind": kind, "bytes_per_item": size, "search_ms_per_query": round(ms, 4)}
        submit(workspace, competition, path, name=name, fields=fields)
    return write_report(workspace, competition, out=folder / "report")


def _search(q: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """Top-k gallery positions by squared L2 distance (Hamming order for ±1 codes); ties by position."""
    dist = (q**2).sum(1)[:, None] - 2 * q @ g.T + (g**2).sum(1)[None, :]
    return np.argsort(dist, axis=1, kind="stable")[:, :k]
