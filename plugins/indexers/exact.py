"""``exact``: brute-force float search (inner product, cosine or euclidean), streamed in blocks."""

from __future__ import annotations

import numpy as np

from harness import hookimpl
from plugins.indexers._base import Index, check_int, check_metric, finish, normalized
from plugins.indexers._topk import stream_smallest


class ExactIndex(Index):
    """Exact float search; peak memory ~ query_block x gallery_block x 13 bytes, whatever the sizes.

    Scores: the inner product, the cosine similarity, or minus the squared euclidean distance.
    """

    def __init__(self, metric: str = "cosine", query_block: int = 1024, gallery_block: int = 8192):
        super().__init__()
        self.metric = check_metric(metric)
        self.query_block = check_int("query_block", query_block)
        self.gallery_block = check_int("gallery_block", gallery_block)
        self._gallery: np.ndarray | None = None
        self._norms: np.ndarray | None = None

    def build(self, gallery) -> ExactIndex:
        gallery = self._check_build(gallery)
        if self.metric == "cosine":
            gallery = normalized(gallery)
        # stored pre-scaled so each block's matmul directly yields "lower is better" distances
        scale = -2.0 if self.metric == "euclidean" else -1.0
        self._gallery = gallery * np.float32(scale)
        self._norms = (gallery.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        self.bytes_per_item = 4 * self.dim
        return self

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = self._check_search(queries, k)
        if self.metric == "cosine":
            queries = normalized(queries)
        gallery, norms = self._gallery, self._norms

        def distances(q0, q1, g0, g1):
            block = queries[q0:q1] @ gallery[g0:g1].T
            if self.metric == "euclidean":
                block += norms[g0:g1]
            return block

        vals, idx = stream_smallest(
            len(queries), self.size, k, self.query_block, self.gallery_block, distances, np.float32
        )
        if self.metric == "euclidean":
            vals = np.maximum(vals + (queries.astype(np.float64) ** 2).sum(axis=1, keepdims=True), 0)
        return finish(-vals, idx)


@hookimpl
def register_indexers(register):
    register("exact", ExactIndex, description="Exact float search (ip, cosine, euclidean), streamed in blocks.")
