"""``faiss-flat``: exact float search with faiss (IndexFlatIP / IndexFlatL2)."""

from __future__ import annotations

from harness import hookimpl
from plugins.indexers._faiss import FaissFloatIndex


class FaissFlatIndex(FaissFloatIndex):
    """Exact search with faiss's flat index; metric ip, cosine or euclidean."""

    def __init__(self, metric: str = "cosine"):
        super().__init__(metric)

    def _make(self, dim, metric_type):
        import faiss

        return faiss.IndexFlat(dim, metric_type)


@hookimpl
def register_indexers(register):
    register("faiss-flat", FaissFlatIndex, description="Exact float search with faiss (flat index).")
