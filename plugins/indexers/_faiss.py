"""The shared half of the faiss indexers (no hooks here): faiss is imported on first build."""

from __future__ import annotations

import numpy as np

from plugins.indexers._base import Index, check_metric, normalized, sort_rows


class FaissFloatIndex(Index):
    """Float search through a faiss index that subclasses create in ``_make(dim, metric_type)``.

    Scores: inner product, cosine similarity, or minus the squared euclidean distance; rows are
    re-sorted stably so that ties follow gallery position (faiss returns them in any order).
    """

    def __init__(self, metric: str = "cosine"):
        super().__init__()
        self.metric = check_metric(metric)
        self._index = None

    def _make(self, dim: int, metric_type: int):
        raise NotImplementedError

    def _before_search(self, k: int) -> None:
        """Set per-search parameters (nprobe, efSearch)."""

    def _extra_bytes(self) -> int:
        return 0

    def build(self, gallery) -> FaissFloatIndex:
        import faiss

        gallery = self._prepare(self._check_build(gallery))
        self.bytes_per_item = 4 * self.dim + self._extra_bytes()
        if self.size == 0:
            return self
        metric_type = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        self._index = self._make(self.dim, metric_type)
        if not self._index.is_trained:
            self._index.train(gallery)
        self._index.add(gallery)
        return self

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = self._prepare(self._check_search(queries, k))
        if self._index is None:
            return sort_rows(np.zeros((len(queries), 0)), np.zeros((len(queries), 0), dtype=np.int64), k)
        self._before_search(k)
        scores, idx = self._index.search(queries, min(k, self.size))
        if self.metric == "euclidean":
            scores = -scores
        return sort_rows(scores, idx, k)

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(normalized(x), dtype=np.float32) if self.metric == "cosine" else x
