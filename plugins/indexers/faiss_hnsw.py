"""``faiss-hnsw``: approximate float search on a navigable small-world graph (faiss IndexHNSWFlat)."""

from __future__ import annotations

from harness import hookimpl
from plugins.indexers._base import check_int
from plugins.indexers._faiss import FaissFloatIndex


class FaissHNSWIndex(FaissFloatIndex):
    """Graph search: ``M`` links per node, ``efConstruction`` and ``efSearch`` (raised to k) beam widths."""

    def __init__(self, metric: str = "cosine", M: int = 32, efConstruction: int = 80, efSearch: int = 128):
        super().__init__(metric)
        self.M = check_int("M", M, minimum=2)
        self.efConstruction = check_int("efConstruction", efConstruction)
        self.efSearch = check_int("efSearch", efSearch)

    def _make(self, dim, metric_type):
        import faiss

        index = faiss.IndexHNSWFlat(dim, self.M, metric_type)
        index.hnsw.efConstruction = self.efConstruction
        return index

    def _before_search(self, k):
        self._index.hnsw.efSearch = max(self.efSearch, k)

    def _extra_bytes(self):
        return 2 * self.M * 4  # the bottom layer's links, the bulk of the graph


@hookimpl
def register_indexers(register):
    register("faiss-hnsw", FaissHNSWIndex, description="Approximate float search with faiss HNSW (M, efSearch).")
