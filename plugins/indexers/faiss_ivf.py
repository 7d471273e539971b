"""``faiss-ivf``: approximate float search with an inverted file (faiss IndexIVFFlat)."""

from __future__ import annotations

import math

from harness import hookimpl
from plugins.indexers._base import check_int
from plugins.indexers._faiss import FaissFloatIndex


class FaissIVFIndex(FaissFloatIndex):
    """k-means cells (``nlist``, default ~sqrt(gallery size)); a search visits ``nprobe`` cells.

    ``nlist`` is capped at the gallery size, since k-means needs a point per cell.
    """

    def __init__(self, metric: str = "cosine", nlist: int | None = None, nprobe: int = 32):
        super().__init__(metric)
        self.nlist = None if nlist is None else check_int("nlist", nlist)
        self.nprobe = check_int("nprobe", nprobe)
        self.cells = 0

    def _make(self, dim, metric_type):
        import faiss

        wanted = self.nlist or max(1, int(math.sqrt(self.size)))
        self.cells = min(wanted, self.size)
        self._quantizer = faiss.IndexFlat(dim, metric_type)  # kept: the IVF index only borrows it
        index = faiss.IndexIVFFlat(self._quantizer, dim, self.cells, metric_type)
        index.cp.min_points_per_centroid = 1  # small galleries are fine; skip faiss's warning
        index.cp.seed = 1234
        return index

    def _before_search(self, k):
        self._index.nprobe = min(self.nprobe, self.cells)

    def _extra_bytes(self):
        return 8  # the id stored with every vector in its inverted list


@hookimpl
def register_indexers(register):
    register("faiss-ivf", FaissIVFIndex, description="Approximate float search with faiss IVF-Flat (nlist, nprobe).")
