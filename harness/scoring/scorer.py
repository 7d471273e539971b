"""Scores of a ranked submission: public and private means, seeded bootstrap intervals, and a
paired bootstrap to compare two submissions query by query."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from harness.metrics import mean_score, panel_scores, per_query_scores
from harness.scoring.answers import Answers

RESAMPLES = 1000
LEVEL = 0.95
_DRAWS_PER_CHUNK = 4_000_000  # bounds the bootstrap's memory whatever the number of queries


@dataclass(frozen=True)
class ScoreReport:
    """One submission's scores. ``per_query`` follows ``answers.query_ids``."""

    metric_label: str
    public: float
    public_ci: tuple[float, float]
    private: float
    private_ci: tuple[float, float]
    per_query: np.ndarray
    panel: dict[str, float | None] = field(default_factory=dict)  # public means of the metric panel
    private_panel: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "metric": self.metric_label,
            "public": self.public,
            "public_ci": list(self.public_ci),
            "private": self.private,
            "private_ci": list(self.private_ci),
            "queries": len(self.per_query),
            "panel": {"public": self.panel, "private": self.private_panel},
        }


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap of A minus B over the same queries."""

    n_queries: int
    mean_a: float
    mean_b: float
    difference: float
    ci: tuple[float, float]
    share_a_better: float


def score(answers: Answers, ranked: np.ndarray, seed: int = 0, resamples: int = RESAMPLES) -> ScoreReport:
    """Score ranked gallery positions (Q, k) against the answers, on public and private queries."""
    per_query = per_query_scores(ranked, answers.query_labels, answers.gallery_labels, answers.metric, answers.k)
    public = np.asarray(answers.public, dtype=bool)
    pub, priv = per_query[public], per_query[~public]

    def intervals() -> tuple[tuple[float, float], tuple[float, float]]:
        rng = np.random.default_rng(seed)  # public first, then private: the order fixes every draw
        return bootstrap_ci(pub, rng, resamples), bootstrap_ci(priv, rng, resamples)

    # the bootstrap (mostly random draws, which release the GIL) runs beside the metric panel
    with ThreadPoolExecutor(1) as pool:
        drawn = pool.submit(intervals)
        panel = panel_scores(ranked, answers.query_labels, answers.gallery_labels, answers.k)
        public_ci, private_ci = drawn.result()
    return ScoreReport(
        metric_label=answers.metric_label,
        public=mean_score(pub),
        public_ci=public_ci,
        private=mean_score(priv),
        private_ci=private_ci,
        per_query=per_query,
        panel={label: None if v is None else round(mean_score(v[public]), 6) for label, v in panel.items()},
        private_panel={label: None if v is None else round(mean_score(v[~public]), 6) for label, v in panel.items()},
    )


def bootstrap_means(values: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES) -> np.ndarray:
    """Means of ``resamples`` resamples (with replacement) of ``values``; drawn in bounded chunks."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return np.zeros(resamples)
    means = np.empty(resamples)
    chunk = max(1, _DRAWS_PER_CHUNK // n)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        draws = rng.integers(0, n, size=(stop - start, n), dtype=np.int32 if n < 2**31 else np.int64)
        means[start:stop] = values[draws].mean(axis=1)
    return means


def bootstrap_ci(
    values: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile interval of the mean; (0, 0) for an empty subset."""
    if len(values) == 0:
        return (0.0, 0.0)
    means = bootstrap_means(values, rng, resamples)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, seed: int = 0, resamples: int = RESAMPLES, level: float = LEVEL
) -> Comparison:
    """Resample queries jointly: the mean difference A - B, its interval and how often A wins."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must cover the same queries, got {a.shape} and {b.shape}")
    diff = a - b
    means = bootstrap_means(diff, np.random.default_rng(seed), resamples)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail]) if len(diff) else (0.0, 0.0)
    return Comparison(
        n_queries=len(diff),
        mean_a=mean_score(a),
        mean_b=mean_score(b),
        difference=mean_score(diff),
        ci=(float(low), float(high)),
        share_a_better=float(np.mean(means > 0)) if len(diff) else 0.0,
    )
