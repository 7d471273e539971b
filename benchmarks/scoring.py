"""Scorer speed: the vectorised map@k for 100,000 queries x 100 neighbours, next to a plain loop;
and the val score during training (leave-one-out over a 10,000-item val set) against an epoch.

    python benchmarks/scoring.py [--queries 100000] [--k 100] [--loop-queries 5000] [--val 10000]

The plain per-query Python loop is timed on --loop-queries queries and extrapolated to all of
them; both give the same scores on that subset (checked). The val score is timed as training
runs it (search with the run's indexer, then scoring), next to the per-item loop bench used
before (timed on a subset, extrapolated) and to one training epoch over --val images of the
smallest built-in model (hashnet on digits' image shape, batch 64): an epoch of any competition
with that many val items is at least this long. Goal: the val score <= 5% of that epoch.
Submission files: see benchmarks/submission.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.metrics import per_query_scores
from harness.scoring.answers import Answers
from harness.scoring.scorer import score


def plain_loop(ranked, query_labels, gallery_labels, k):
    """map@k one query at a time, the way one would first write it."""
    counts: dict[int, int] = {}
    for label in gallery_labels.tolist():
        counts[label] = counts.get(label, 0) + 1
    out = []
    for row, label in zip(ranked.tolist(), query_labels.tolist()):
        seen, hits, total = set(), 0, 0.0
        for rank, position in enumerate(row[:k], start=1):
            if position >= 0 and position not in seen and gallery_labels[position] == label:
                hits += 1
                total += hits / rank
            seen.add(position)
        out.append(total / min(counts.get(label, 0), k) if counts.get(label) else 0.0)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--gallery", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=500)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--loop-queries", type=int, default=5_000)
    parser.add_argument("--val", type=int, default=10_000, help="val set size for the training-time val score")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    gallery_labels = rng.integers(0, args.classes, args.gallery)
    query_labels = rng.integers(0, args.classes, args.queries)
    # mostly right-class items near the top; drawn with replacement, so most rows hold repeats
    # (the scorer's slower path: a validated file has none)
    by_class = [np.flatnonzero(gallery_labels == c) for c in range(args.classes)]
    ranked = rng.integers(0, args.gallery, (args.queries, args.k))
    good = rng.random((args.queries, args.k)) < np.linspace(0.9, 0.1, args.k)
    for c in range(args.classes):
        rows = np.flatnonzero(query_labels == c)
        ranked[rows] = np.where(good[rows], rng.choice(by_class[c], (len(rows), args.k)), ranked[rows])
    query_ids, gallery_ids = np.arange(args.queries).astype(str), np.arange(args.gallery).astype(str)
    public = rng.random(args.queries) < 0.3
    answers = Answers("bench", "map@k", args.k, query_ids, query_labels, public, gallery_ids, gallery_labels, "")

    start = time.perf_counter()
    vectorised = per_query_scores(ranked, query_labels, gallery_labels, "map@k", args.k)
    metric_s = time.perf_counter() - start
    distinct = np.tile(np.argsort(rng.random((1000, args.gallery)), axis=1)[:, : args.k], (args.queries // 1000 + 1, 1))
    start = time.perf_counter()
    per_query_scores(distinct[: args.queries], query_labels, gallery_labels, "map@k", args.k)
    distinct_s = time.perf_counter() - start
    start = time.perf_counter()
    report = score(answers, ranked, seed=0)
    score_s = time.perf_counter() - start

    n = min(args.loop_queries, args.queries)
    start = time.perf_counter()
    looped = plain_loop(ranked[:n], query_labels[:n], gallery_labels, args.k)
    loop_s = (time.perf_counter() - start) * args.queries / n
    assert np.allclose(looped, vectorised[:n]), "the loop and the vectorised scorer disagree"

    print(f"{args.queries:,} queries x {args.k} neighbours, {args.gallery:,} gallery items, {args.classes} classes")
    print(f"{'what':<46} {'seconds':>9} {'vs loop':>8}")
    print(f"{'plain Python loop (extrapolated from ' + format(n, ',') + ')':<46} {loop_s:>9.2f} {'1.0x':>8}")
    print(f"{'vectorised map@k (per_query_scores)':<46} {metric_s:>9.3f} {loop_s / metric_s:>7.0f}x")
    print(f"{'  same, lists without repeats':<46} {distinct_s:>9.3f} {loop_s / distinct_s:>7.0f}x")
    print(f"{'score(): map@k + public/private + 2 bootstraps':<46} {score_s:>9.3f} {loop_s / score_s:>7.0f}x")
    print(
        f"public {report.public:.4f} [{report.public_ci[0]:.4f}, {report.public_ci[1]:.4f}], private "
        f"{report.private:.4f}"
    )
    val_section(args.val)


def val_section(n: int, loop_items: int = 300) -> None:
    """Leave-one-out val score of ``n`` items: vectorised, the per-item loop, and one epoch for scale."""
    import torch

    from harness.pipeline import resolve_run_config
    from harness.train.model import build_model
    from harness.train.validation import leave_one_out, leave_one_out_scores

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 100, n)
    centers = rng.standard_normal((100, 128)).astype(np.float32) * 2
    embeddings = centers[labels] + rng.standard_normal((n, 128)).astype(np.float32)
    start = time.perf_counter()
    ranked, k = leave_one_out(embeddings, {"name": "exact"}, 100)
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    vectorised = leave_one_out_scores(ranked, labels, "map@k", k)
    score_s = time.perf_counter() - start
    start = time.perf_counter()
    looped = []
    usable = np.flatnonzero(np.bincount(labels)[labels] > 1)  # the items the val score covers
    loop_items = min(loop_items, len(usable))
    for i in usable[:loop_items]:
        gallery = labels.copy()
        gallery[i] = labels.min() - 1
        looped.append(per_query_scores(ranked[i : i + 1], labels[i : i + 1], gallery, "map@k", k)[0])
    loop_s = (time.perf_counter() - start) * n / loop_items
    assert np.allclose(looped, vectorised[:loop_items]), "the loop and the vectorised val score disagree"

    config = resolve_run_config("hashnet", competition="digits", device="cpu")
    model = build_model(config.components, 10, torch.device("cpu"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    timed_batches = min(-(-n // 64), 20)
    start = time.perf_counter()
    for _ in range(timed_batches):  # timed on 20 batches, extrapolated to the epoch
        loss = model(torch.rand(64, 3, 32, 32)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    epoch_s = (time.perf_counter() - start) * -(-n // 64) / timed_batches
    val_s = search_s + score_s
    print(f"\nval score during training: {n:,} val items (128-d, exact), leave-one-out map@{k}")
    print(f"{'what':<58} {'seconds':>9}")
    print(f"{'per-item Python loop, scoring only (bench before; extrapolated)':<58} {loop_s:>9.2f}")
    print(f"{'vectorised scoring (harness/train/validation.py)':<58} {score_s:>9.3f}  {loop_s / score_s:.0f}x faster")
    print(f"{'search (exact indexer, k+1 neighbours)':<58} {search_s:>9.3f}")
    epoch = f"one epoch, hashnet model, {n:,} images 3x32x32, batch 64 (extrapolated)"
    print(f"{epoch:<58} {epoch_s:>9.2f}")
    print(f"val score (search + scoring) / epoch: {100 * val_s / epoch_s:.1f}% (goal <= 5%)")


if __name__ == "__main__":
    main()
