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
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np

from harness.data.cutoff import metric_label
from harness.data.shipped_plugins import builtin_root, is_shipped
from harness.errors import ConfigError, PluginError
from harness.hookspecs import Metric
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
        return metric_label(self.name, self.k)


@lru_cache(maxsize=1)
def builtin_metrics() -> Registry:
    """The built-in metrics, loaded by importing ``plugins.metrics`` alone (the scorer's trusted set): only
    its shipped files, known by name and SHA-256 (harness.data.shipped_plugins), never a file dropped beside them."""
    registry = Registry("metrics")
    package = importlib.import_module(BUILTIN_METRICS_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__, package.__name__ + "."), key=lambda i: i.name):
        path = Path(getattr(info.module_finder, "path", "")) / (info.name.rsplit(".", 1)[-1] + ".py")
        if not is_shipped(path, builtin_root()):
            continue
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


def metric_function(name: str) -> Metric:
    try:
        return builtin_metrics().get(name).factory
    except PluginError:
        raise ConfigError(f"unknown metric {name!r}.{did_you_mean(str(name), metric_names())}") from None


def per_query_scores(
    ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, metric: str, k: int
) -> np.ndarray:
    """(Q,) float64 score of each query's ranked list under ``metric`` (a registered name) with cut-off ``k``."""
    ref = MetricRef(metric, k)
    scores, failed = scores_for(ranked, query_labels, gallery_labels, [ref])
    if ref in failed:
        raise failed[ref]
    return scores[ref]


def panel_scores(
    ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, k: int
) -> dict[str, np.ndarray | None]:
    """Per-query scores of every panel metric, keyed by label (``map@100``, ``precision@5``...).

    A metric the competition cannot support (``map@r`` with k below the largest class) is None.
    """
    refs = [parse_metric(entry, k) for entry in PANEL]
    scores, failed = scores_for(ranked, query_labels, gallery_labels, refs)
    return {ref.label: None if ref in failed else scores[ref] for ref in refs}


def scores_for(
    ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, refs: list[MetricRef]
) -> tuple[dict[MetricRef, np.ndarray], dict[MetricRef, ConfigError]]:
    """Per-query scores of several metrics in one pass over blocks of queries.

    Every metric scores a block before the next block is cut, so the metrics share that block's
    labels, relevance and relevant counts (:func:`shared_blocks`) and memory stays bounded by a
    block. Returns the scores, and the ConfigError of each metric that cannot score this ranking.
    """
    refs = list(dict.fromkeys(refs))
    for ref in refs:
        if ref.k < 1:
            raise ConfigError(f"k must be >= 1 but got {ref.k}")
    functions, failed = {}, {}
    for ref in refs:
        try:
            functions[ref] = metric_function(ref.name)
        except ConfigError as exc:  # an unknown metric fails alone, like one that cannot score this ranking
            failed[ref] = exc
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2 or len(ranked) != len(query_labels):
        raise ValueError(f"ranked must be (Q, k) with Q={len(query_labels)}, got shape {ranked.shape}")
    query_labels = np.asarray(query_labels)
    scores = {ref: np.zeros(len(query_labels), dtype=np.float64) for ref in refs}
    width = max([ranked.shape[1], *(ref.k for ref in refs)])
    rows = max(1, _CELLS_PER_BLOCK // width)  # memory bounded by a block of queries, whatever Q
    with shared_blocks():
        for start in range(0, len(query_labels), rows):
            stop = start + rows
            block, labels = ranked[start:stop], query_labels[start:stop]
            for ref in refs:
                if ref in failed:
                    continue
                try:
                    values = np.asarray(functions[ref](block, labels, gallery_labels, ref.k), dtype=np.float64)
                except ConfigError as exc:
                    failed[ref] = exc
                    continue
                if values.shape != (len(labels),):
                    raise PluginError(f"metric {ref.label!r} returned shape {values.shape} for {len(labels)} queries")
                scores[ref][start:stop] = values
    return scores, failed


@contextmanager
def shared_blocks() -> Iterator[None]:
    """Within this block, metrics given the same arrays share :func:`ranked_labels`, :func:`relevance`
    and :func:`relevant_counts` instead of recomputing them (a panel of 14 metrics sorts each ranking once).

    Entries are keyed by the arrays' memory and hold the arrays, so that memory cannot be reused
    for other values while the entry lives; the arrays must not be modified inside the block, and
    the shared results are read-only (a metric that wants to change one makes its own copy).
    """
    outer = getattr(_shared, "entries", None)
    if outer is None:
        _shared.entries = {}
    try:
        yield
    finally:
        if outer is None:
            _shared.entries = None


_shared = threading.local()
Shared = TypeVar("Shared")  # what a shared computation returns: an array, or a tuple of them
_SHARED_ENTRIES = 8  # the current block's few results; older blocks' are dropped


def _shared_result(kind: str, arrays: tuple, compute: Callable[[], Shared]) -> Shared:
    entries = getattr(_shared, "entries", None)
    if entries is None:
        return compute()
    key = (kind, *(_identity(a) for a in arrays))
    if key not in entries:
        if len(entries) >= _SHARED_ENTRIES:
            entries.pop(next(iter(entries)))
        entries[key] = (_read_only(compute()), arrays)
    return entries[key][0]


def _read_only(result: Shared) -> Shared:
    """A shared result cannot be changed in place by one metric under the next one's feet."""
    for array in result if isinstance(result, tuple) else (result,):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return result


def _identity(array: object) -> tuple:
    if not isinstance(array, np.ndarray):
        return (id(array),)
    return (array.__array_interface__["data"][0], array.shape, array.strides, array.dtype.str)


# -- building blocks for metric plugins (exported on the public face) ---------------------------
def relevant_counts(query_labels: np.ndarray, gallery_labels: np.ndarray) -> np.ndarray:
    """``m_q``: how many gallery items share each query's label (0 if none)."""
    gallery_labels = np.asarray(gallery_labels)
    values, counts = _shared_result(
        "label counts", (gallery_labels,), lambda: np.unique(gallery_labels, return_counts=True)
    )
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


def ranked_labels(ranked: np.ndarray, gallery_labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, valid): the gallery label at each of the first k ranks, and whether the slot holds a
    first occurrence of a real gallery item (not padding, not a repeat)."""
    ranked, gallery_labels = np.asarray(ranked), np.asarray(gallery_labels)
    labels, valid, first_bad = _shared_result(
        "ranked labels", (ranked, gallery_labels), lambda: _labels_of(ranked, gallery_labels)
    )
    if first_bad < k:
        raise ValueError(f"ranked positions must lie in [-1, {len(gallery_labels)})")
    return _to_width(labels, k, 0), _to_width(valid, k, False)


def _labels_of(ranked: np.ndarray, gallery_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """ranked_labels at the ranking's own width, and the first column holding an impossible position."""
    ranked = np.asarray(ranked, dtype=np.int64)
    outside = (ranked < -1) | (ranked >= len(gallery_labels))
    first_bad = int(np.flatnonzero(outside.any(axis=0))[0]) if outside.any() else sys.maxsize
    labels = np.append(np.asarray(gallery_labels, dtype=np.int64), 0)[np.where(outside, -1, ranked)]
    return labels, (ranked >= 0) & ~outside & first_occurrences(ranked), first_bad


def _to_width(values: np.ndarray, k: int, fill: float) -> np.ndarray:
    """The first k columns of ``values``, padded with ``fill`` where it has fewer."""
    if values.shape[1] >= k:
        return values[:, :k]
    return np.concatenate([values, np.full((values.shape[0], k - values.shape[1]), fill, values.dtype)], axis=1)


def relevance(ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) bool: is the item at each rank relevant (and not a repeat, and not padding)?

    Read-only while the scorer shares it between metrics: combine it into a new array (``rel & mask``).
    """
    ranked, query_labels, gallery_labels = np.asarray(ranked), np.asarray(query_labels), np.asarray(gallery_labels)
    labels, valid, first_bad = _shared_result(
        "ranked labels", (ranked, gallery_labels), lambda: _labels_of(ranked, gallery_labels)
    )
    if first_bad < k:
        raise ValueError(f"ranked positions must lie in [-1, {len(gallery_labels)})")
    rel = _shared_result(
        "relevance",
        (ranked, query_labels, gallery_labels),
        lambda: valid & (labels == query_labels.astype(np.int64)[:, None]),
    )
    return _to_width(rel, k, False)


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
