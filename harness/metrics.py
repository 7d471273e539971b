"""Retrieval metrics, vectorised over queries: the scorer's conventions (DESIGN section 6).

A ranked list is a row of gallery positions, best first, padded with -1. A gallery item is
relevant to a query when their labels are equal; ``m_q`` counts the relevant gallery items.
A repeated neighbour earns nothing but keeps its rank slot; a row of -1 (a missing query) scores 0.

The metrics themselves are plugins (``register_metrics``, one file each in ``plugins/metrics/``).
The scorer trusts only the built-in ones: :func:`builtin_metrics` imports that one package and
nothing else (no third-party plugin, no torch), so scoring stays safe and light.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness.errors import ConfigError, PluginError
from harness.registry import Registry, did_you_mean

BUILTIN_METRICS_PACKAGE = "plugins.metrics"
# Scored on every submission besides the primary metric; "@k" is the competition's k.
PANEL = (
    "map@k", "map@r", "r-precision", "precision@1", "precision@5", "precision@10", "recall@k",
    "hit@1", "hit@2", "hit@4", "hit@8", "mrr@k", "knn-accuracy@5", "map@k-found",
)  # fmt: skip
_CELLS_PER_BLOCK = 1 << 22  # ranked cells scored at once: ~60 MB of temporaries per block
_CUTOFF = re.compile(r"@(\d+)")


@dataclass(frozen=True)
class MetricRef:
    """A metric as a user names it: ``precision@5`` is the ``precision@k`` family at k=5."""

    name: str  # the registered name, e.g. "precision@k" or "map@r"
    k: int  # the cut-off the metric is computed at (the list length for map@r and r-precision)

    @property
    def label(self) -> str:
        return self.name.replace("@k", f"@{self.k}")


@lru_cache(maxsize=1)
def builtin_metrics() -> Registry:
    """The built-in metrics, loaded by importing ``plugins.metrics`` alone (the scorer's trusted set)."""
    registry = Registry("metrics")
    package = importlib.import_module(BUILTIN_METRICS_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__, package.__name__ + "."), key=lambda i: i.name):
        module = importlib.import_module(info.name)
        hook = getattr(module, "register_metrics", None)
        if hook is not None:
            hook(register=lambda name, factory, _m=info.name, **meta: registry.register(name, factory, _m, **meta))
    return registry


def metric_names() -> list[str]:
    return builtin_metrics().names()


def parse_metric(label: str, default_k: int) -> MetricRef:
    """``map@k`` -> map@k at ``default_k``; ``hit@4`` -> hit@k at 4; ``map@r`` as registered."""
    names = metric_names()
    text = str(label).strip()
    if text in names:
        return MetricRef(text, int(default_k))
    found = _CUTOFF.search(text)
    if found:
        family = text[: found.start()] + "@k" + text[found.end() :]
        if family in names:
            k = int(found.group(1))
            if k < 1:
                raise ConfigError(f"metric {label!r}: k must be >= 1")
            return MetricRef(family, k)
    raise ConfigError(f"unknown metric {label!r}.{did_you_mean(text, names)}")


def check_metric(metric: str) -> str:
    if metric not in metric_names():
        raise ConfigError(f"unknown metric {metric!r}; use one of {', '.join(metric_names())}")
    return metric


def metric_function(name: str) -> Callable[..., np.ndarray]:
    try:
        return builtin_metrics().get(name).factory
    except PluginError:
        raise ConfigError(f"unknown metric {name!r}.{did_you_mean(str(name), metric_names())}") from None


def per_query_scores(
    ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, metric: str, k: int
) -> np.ndarray:
    """(Q,) float64 score of each query's ranked list under ``metric`` (a registered name) with cut-off ``k``."""
    function = metric_function(metric)
    if k < 1:
        raise ConfigError(f"k must be >= 1 but got {k}")
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2 or len(ranked) != len(query_labels):
        raise ValueError(f"ranked must be (Q, k) with Q={len(query_labels)}, got shape {ranked.shape}")
    query_labels = np.asarray(query_labels)
    out = np.zeros(len(query_labels), dtype=np.float64)
    rows = max(1, _CELLS_PER_BLOCK // k)  # memory bounded by a block of queries, whatever Q
    for start in range(0, len(out), rows):
        stop = start + rows
        block = np.asarray(function(ranked[start:stop], query_labels[start:stop], gallery_labels, k), dtype=np.float64)
        if block.shape != (len(query_labels[start:stop]),):
            raise PluginError(f"metric {metric!r} returned shape {block.shape} for {stop - start} queries")
        out[start:stop] = block
    return out


def panel_scores(ranked: np.ndarray, query_labels, gallery_labels, k: int) -> dict[str, np.ndarray | None]:
    """Per-query scores of every panel metric, keyed by label (``map@100``, ``precision@5``...).

    A metric the competition cannot support (``map@r`` with k below the largest class) is None.
    """
    out: dict[str, np.ndarray | None] = {}
    for entry in PANEL:
        ref = parse_metric(entry, k)
        try:
            out[ref.label] = per_query_scores(ranked, query_labels, gallery_labels, ref.name, ref.k)
        except ConfigError:
            out[ref.label] = None
    return out


# -- building blocks for metric plugins (exported on the public face) ---------------------------
def relevant_counts(query_labels: np.ndarray, gallery_labels: np.ndarray) -> np.ndarray:
    """``m_q``: how many gallery items share each query's label (0 if none)."""
    values, counts = np.unique(np.asarray(gallery_labels), return_counts=True)
    labels = np.asarray(query_labels)
    if len(values) == 0:
        return np.zeros(len(labels), dtype=np.int64)
    where = np.searchsorted(values, labels).clip(max=len(values) - 1)
    return np.where(values[where] == labels, counts[where], 0).astype(np.int64)


def first_occurrences(ranked: np.ndarray) -> np.ndarray:
    """True where a row's entry is not a repeat of an earlier entry in the same row."""
    first = np.ones(ranked.shape, dtype=bool)
    if ranked.shape[1] < 2:
        return first
    ordered = np.sort(ranked, axis=1)
    has_repeat = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any(axis=1)
    rows = np.flatnonzero(has_repeat)
    if len(rows) == 0:
        return first
    k = ranked.shape[1]
    # one sort of (position, rank) keys puts each copy right after its earlier copies
    key = ranked[rows].astype(np.int64) * k + np.arange(k)
    key.sort(axis=1)
    position, rank = np.divmod(key, k)
    repeat = (position[:, 1:] == position[:, :-1]) & (position[:, 1:] >= 0)
    sub_rows, cols = np.nonzero(repeat)
    first[rows[sub_rows], rank[sub_rows, cols + 1]] = False
    return first


def cut(ranked: np.ndarray, k: int) -> np.ndarray:
    """Exactly k columns: longer lists are cut, shorter ones padded with -1."""
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.shape[1] >= k:
        return ranked[:, :k]
    pad = np.full((ranked.shape[0], k - ranked.shape[1]), -1, dtype=ranked.dtype)
    return np.concatenate([ranked, pad], axis=1)


def ranked_labels(ranked: np.ndarray, gallery_labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, valid): the gallery label at each of the first k ranks, and whether the slot holds a
    first occurrence of a real gallery item (not padding, not a repeat)."""
    ranked = cut(ranked, k)
    if ranked.size and not (ranked.min() >= -1 and ranked.max() < len(gallery_labels)):
        raise ValueError(f"ranked positions must lie in [-1, {len(gallery_labels)})")
    labels = np.append(np.asarray(gallery_labels, dtype=np.int64), 0)[ranked]
    return labels, (ranked >= 0) & first_occurrences(ranked)


def relevance(ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) bool: is the item at each rank relevant (and not a repeat, and not padding)?"""
    labels, valid = ranked_labels(ranked, gallery_labels, k)
    return valid & (labels == np.asarray(query_labels, dtype=np.int64)[:, None])


def average_precision(rel: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Σ_i P(i)·rel(i) over the columns of ``rel``, divided by ``denominator`` (0 where it is 0)."""
    k = rel.shape[1]
    hits_so_far = np.cumsum(rel, axis=1, dtype=np.int32)
    precision_sum = (np.where(rel, hits_so_far, 0) / np.arange(1, k + 1)).sum(axis=1)
    return safe_divide(precision_sum, denominator)


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=np.asarray(denominator) > 0)
    return out


def mean_score(scores: np.ndarray) -> float:
    return float(np.mean(scores)) if len(scores) else 0.0
