"""Training diagnostics: the triplet census against a slow loop, neighbour stability, and what a run records."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from harness.train.diagnostics import EpochDiagnostics, NeighbourStability, triplet_counts


def census_reference(x, labels, margin, metric):
    n = len(labels)

    def d(i, j):
        if metric == "cosine":
            return 1 - float(np.dot(x[i], x[j]) / (np.linalg.norm(x[i]) * np.linalg.norm(x[j])))
        return math.dist(x[i], x[j])

    easy = semihard = hard = 0
    for a in range(n):
        for p in range(n):
            for q in range(n):
                if a == p or labels[a] != labels[p] or labels[a] == labels[q]:
                    continue
                if d(a, q) <= d(a, p):
                    hard += 1
                elif d(a, q) <= d(a, p) + margin:
                    semihard += 1
                else:
                    easy += 1
    return [easy, semihard, hard]


@pytest.mark.parametrize("metric,margin", [("euclidean", 0.5), ("cosine", 0.1)])
@pytest.mark.parametrize("n", [12, 70])  # 70 > one block of anchors
def test_triplet_census_matches_a_loop_over_triplets(metric, margin, n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    labels = rng.integers(0, 3, n)
    got = triplet_counts(torch.from_numpy(x), torch.from_numpy(labels), margin, metric)
    assert got.tolist() == census_reference(x.astype(np.float64), labels, margin, metric)


def test_epoch_record_gives_shares_and_zero_loss_samples():
    diagnostics = EpochDiagnostics({"name": "triplet", "margin": 0.3})
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    diagnostics.observe(x, labels, per_sample=np.array([0.0, 0.0, 0.5, 0.0]))
    record = diagnostics.record()
    assert record["easy_triplets"] == 1.0 and record["semihard_triplets"] == record["hard_triplets"] == 0.0
    assert record["zero_loss_samples"] == 0.75
    diagnostics.start_epoch()
    assert diagnostics.record() == {}


def test_neighbour_stability_is_the_mean_top10_overlap():
    stability = NeighbourStability()
    first = np.arange(24).reshape(2, 12)
    assert stability.update(first) is None
    second = first.copy()
    second[0, :5] = [100, 101, 102, 103, 104]  # item 0 kept 5 of its top 10, item 1 all 10
    assert stability.update(second) == pytest.approx((5 / 10 + 10 / 10) / 2)


def test_a_run_records_the_diagnostics_and_bench_report_plots_them(cli, workspace):
    result = cli("run", "-p", "triplet", "--set", "train.epochs=2", "-q")
    assert result.exit_code == 0, result.output
    (run_dir,) = workspace.runs.iterdir()
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert len(history) == 2
    for record in history:
        shares = [record[k] for k in ("easy_triplets", "semihard_triplets", "hard_triplets")]
        assert all(0 <= s <= 1 for s in shares) and sum(shares) == pytest.approx(1, abs=1e-5)
        assert 0 <= record["zero_loss_samples"] <= 1  # the triplet loss gives per-sample values
    assert "val_neighbour_overlap" not in history[0] and 0 <= history[1]["val_neighbour_overlap"] <= 1
    assert (run_dir / "report" / "training.png").is_file()
    report = cli("report", "-c", "digits")
    assert report.exit_code == 0, report.output
    page = (workspace.root / "reports" / "digits" / "index.html").read_text()
    assert "training.png" in page and "Training of" in page
