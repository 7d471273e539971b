"""``faiss-binary``: exact Hamming search with faiss (IndexBinaryFlat)."""

from __future__ import annotations

import numpy as np

from harness import hookimpl
from plugins.indexers._base import Index, pack_bits, sort_rows


class FaissBinaryIndex(Index):
    """Binary codes (±1 or 0/1; positive means 1) ranked by Hamming distance, ties by gallery position.

    Score: the number of matching bits. Codes are zero-padded to whole bytes on both sides.
    """

    code_kind = "binary"

    def __init__(self):
        super().__init__()
        self._index = None

    def build(self, gallery) -> FaissBinaryIndex:
        import faiss

        packed = pack_bits(self._check_build(gallery))
        self.bytes_per_item = packed.shape[1]
        self._index = faiss.IndexBinaryFlat(8 * packed.shape[1])
        if self.size:
            self._index.add(packed)
        return self

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        packed = pack_bits(self._check_search(queries, k))
        if self.size == 0:
            return sort_rows(np.zeros((len(packed), 0)), np.zeros((len(packed), 0), dtype=np.int64), k)
        distances, idx = self._index.search(packed, min(k, self.size))
        return sort_rows(self.dim - distances.astype(np.float32), idx, k)


@hookimpl
def register_indexers(register):
    register("faiss-binary", FaissBinaryIndex, description="Exact Hamming search with faiss (binary flat index).")
