"""``exact``: brute-force float search (inner product, cosine or euclidean) with an exact tie rule.

On the CPU it runs faiss's flat kernels (threaded BLAS blocks plus a heap) and repairs ties: faiss
picks among items tied with the k-th score arbitrarily, so a row whose (k+1)-th score equals its
k-th is searched again with the blocked torch path, which ranks ties by gallery position. On a GPU
(``device="cuda"``, or the model's device in ``bench run``) the torch path does all the work.
"""

from __future__ import annotations

import numpy as np

from harness import hookimpl
from plugins.indexers._base import Index, check_int, check_metric, finish, normalized, sort_rows
from plugins.indexers._torch import blocked_search, full_precision, resolve_device


class ExactIndex(Index):
    """Exact float search; memory bounded by blocks whatever the sizes.

    Scores: the inner product, the cosine similarity, or minus the squared euclidean distance.
    ``query_block`` x ``gallery_block`` bounds the torch path's score matrix; faiss is called on
    ``query_block`` queries at a time.
    """

    def __init__(self, metric: str = "cosine", query_block: int = 4096, gallery_block: int = 65536, device=None):
        super().__init__()
        self.metric = check_metric(metric)
        self.query_block = check_int("query_block", query_block)
        self.gallery_block = check_int("gallery_block", gallery_block)
        self.device = resolve_device(device)
        self._gallery: np.ndarray | None = None
        self._faiss = None
        self._torch = None

    def build(self, gallery) -> ExactIndex:
        gallery = self._check_build(gallery)
        gallery = normalized(gallery).astype(np.float32) if self.metric == "cosine" else gallery
        self.bytes_per_item = 4 * self.dim
        self._faiss = self._torch = self._gallery = None
        if self.size and self.device == "cpu":
            import faiss

            kind = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
            self._faiss = faiss.IndexFlat(self.dim, kind)
            self._faiss.add(gallery)
            # tie repairs read faiss's own copy of the vectors: the gallery is held once
            self._gallery = faiss.rev_swig_ptr(self._faiss.get_xb(), self.size * self.dim).reshape(self.size, -1)
        elif self.size:
            self._torch = TorchFloatSearch(gallery, self.metric, self.device)
        return self

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = self._check_search(queries, k)
        if self.metric == "cosine":
            queries = normalized(queries).astype(np.float32)
        if self.size == 0:
            return sort_rows(np.zeros((len(queries), 0)), np.zeros((len(queries), 0), dtype=np.int64), k)
        if self._torch is not None:
            return self._torch.search(queries, k, self.query_block, self.gallery_block)
        step = self.query_block
        parts = [self._faiss_search(queries[q0 : q0 + step], k) for q0 in range(0, len(queries), step)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _faiss_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # faiss's own BLAS blocks (4096 queries x 1024 gallery items): larger gallery blocks measured
        # slower on an idle machine (benchmarks/search.py); one more neighbour shows a tie at the k-th
        found, idx = self._faiss.search(queries, min(k + 1, self.size))
        scores, idx = sort_rows(-found if self.metric == "euclidean" else found, idx, k + 1)
        if self.size > k:
            tied = np.flatnonzero(scores[:, k] == scores[:, k - 1])
            if len(tied):
                repair = TorchFloatSearch(self._gallery, self.metric, "cpu")
                scores[tied, :k], idx[tied, :k] = repair.search(queries[tied], k, self.query_block, self.gallery_block)
        return finish(scores[:, :k], idx[:, :k])


class TorchFloatSearch:
    """Blocked matmul + top-k in torch on ``device`` (the GPU path; CPU in tests and tie repairs)."""

    def __init__(self, gallery: np.ndarray, metric: str, device: str):
        import torch

        self.metric, self.device = metric, torch.device(device)
        self.gallery = torch.from_numpy(gallery).to(self.device)
        self.norms = (self.gallery.double() ** 2).sum(dim=1).float() if metric == "euclidean" else None

    def search(self, queries: np.ndarray, k: int, query_block: int, gallery_block: int):
        import torch

        q = torch.from_numpy(np.ascontiguousarray(queries)).to(self.device)

        def scores(q0, q1, g0, g1):
            block = q[q0:q1] @ self.gallery[g0:g1].T
            if self.metric == "euclidean":  # -(|q|^2 - 2 q.g + |g|^2), |q|^2 added back at the end
                block = 2 * block - self.norms[g0:g1]
            return block

        with torch.no_grad(), full_precision():
            vals, idx = blocked_search(len(q), len(self.gallery), k, query_block, gallery_block, scores)
        if self.metric == "euclidean":
            vals = np.minimum(vals - (queries.astype(np.float64) ** 2).sum(axis=1, keepdims=True), 0)
        return finish(vals.astype(np.float32), idx)


@hookimpl
def register_indexers(register):
    register("exact", ExactIndex, description="Exact float search (ip, cosine, euclidean); faiss on CPU, torch on GPU.")
