"""Statistics over seeds: a two-level bootstrap for groups, and rank bands for any ranked entries.

A group's score varies with the training seed and with the queries drawn, so its interval resamples
both: seeds with replacement, then, for each seed drawn, its queries with replacement (the
hierarchical bootstrap of Davison & Hinkley, 1997, section 3.8). With one seed it reduces to the
query bootstrap of a single row.

Rank bands follow the leaderboards of Chatbot Arena and MTEB: entries that cannot be told apart
share a rank. The best entry leads band 1, and every entry whose interval reaches the leader's
lower bound joins it; the first entry that does not opens band 2 and leads it, and so on down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.scoring.scorer import LEVEL, RESAMPLES, bootstrap_means


@dataclass(frozen=True)
class SeedSummary:
    """A group's score over its seeds: the mean of the rows' scores, their spread and the interval."""

    n_seeds: int
    mean: float
    sd: float | None  # sample standard deviation over seeds; None for a single seed
    low: float | None
    high: float | None


def two_level_bootstrap(per_seed: Sequence[np.ndarray], seed: int = 0, resamples: int = RESAMPLES) -> np.ndarray:
    """``resamples`` means, each over seeds drawn with replacement and queries drawn within each seed."""
    per_seed = [np.asarray(values, dtype=np.float64) for values in per_seed]
    if not per_seed:
        return np.zeros(resamples)
    rng = np.random.default_rng(seed)
    # Each seed's query-level resample means; a drawn seed then takes one of them at random, so a
    # seed drawn twice gets two independent query resamples.
    query_means = np.stack([bootstrap_means(values, rng, resamples) for values in per_seed])
    seeds = rng.integers(0, len(per_seed), size=(resamples, len(per_seed)))
    columns = rng.integers(0, resamples, size=(resamples, len(per_seed)))
    return query_means[seeds, columns].mean(axis=1)


def percentile_interval(means: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def summarise_seeds(
    scores: Sequence[float], per_seed: Sequence[np.ndarray] | None, seed: int = 0, resamples: int = RESAMPLES
) -> SeedSummary:
    """Mean and sd of the rows' ``scores``; the interval from their per-query scores (None if unknown).

    The mean is the rows' mean exactly (what the table shows is what the rows say); the interval is
    clipped to contain it, since a percentile interval of a skewed statistic can miss the point value.
    """
    values = np.asarray(scores, dtype=np.float64)
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if len(values) > 1 else None
    if not per_seed:
        return SeedSummary(len(values), mean, sd, None, None)
    low, high = percentile_interval(two_level_bootstrap(per_seed, seed, resamples))
    return SeedSummary(len(values), mean, sd, min(low, mean), max(high, mean))


METRIC_RANGE = (0.0, 1.0)  # every built-in metric is a mean of per-query values in [0, 1]


def clip_interval(low: float, high: float, bounds: tuple[float, float] = METRIC_RANGE) -> tuple[float, float]:
    """An interval of a metric kept inside the metric's range (mean ± 2 sd can reach past 1)."""
    return float(min(max(low, bounds[0]), bounds[1])), float(min(max(high, bounds[0]), bounds[1]))


def verdict(low: float, high: float, a: str = "A", b: str = "B") -> str:
    """Plain words for a 95% interval of A - B: what `bench compare` and `bench reproduce` both say."""
    if low > 0:
        return f"{a} is better"
    if high < 0:
        return f"{b} is better"
    return "no detectable difference"


def rank_bands(entries: Sequence[tuple[float, float | None, float | None]]) -> list[int | None]:
    """Band of each ``(score, low, high)`` entry, entries given best first; None where no interval."""
    bands: list[int | None] = []
    band, leader_low = 0, None
    for score, low, high in entries:
        if low is None or high is None or not np.isfinite(score):
            bands.append(None)
            continue
        if leader_low is None or high < leader_low:
            band, leader_low = band + 1, low
        bands.append(band)
    return bands


def paired_difference_over_seeds(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], seed: int = 0, resamples: int = RESAMPLES
) -> tuple[float, tuple[float, float], float]:
    """Group A minus group B on the same queries: (difference, interval, share of resamples where A wins).

    Seeds are drawn independently for each group (they are not paired), queries jointly for both, so
    the interval holds the seed spread of both groups and the query noise they share.
    """
    a = np.stack([np.asarray(v, dtype=np.float64) for v in a])
    b = np.stack([np.asarray(v, dtype=np.float64) for v in b])
    rng = np.random.default_rng(seed)
    n_queries = a.shape[1]
    differences = np.empty(resamples)
    for i in range(resamples):
        queries = rng.integers(0, n_queries, n_queries)
        seeds_a = rng.integers(0, len(a), len(a))
        seeds_b = rng.integers(0, len(b), len(b))
        differences[i] = a[seeds_a][:, queries].mean() - b[seeds_b][:, queries].mean()
    difference = float(a.mean() - b.mean())
    return difference, percentile_interval(differences), float(np.mean(differences > 0))
