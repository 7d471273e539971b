"""Scorer speed: the vectorised map@k for 100,000 queries x 100 neighbours, next to a plain loop.

    python benchmarks/scoring.py [--queries 100000] [--k 100] [--loop-queries 5000]

The plain per-query Python loop is timed on --loop-queries queries and extrapolated to all of
them; both give the same scores on that subset (checked).
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


if __name__ == "__main__":
    main()
