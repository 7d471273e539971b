"""``hamming``: exact Hamming-distance search over binary codes, ties ranked by gallery position.

On the CPU it runs faiss's IndexBinaryFlat kernel: it admits an item only when it beats the
k-th (distance, position) pair, so among tied items the lowest positions win
(tests/test_indexers.py checks this against a popcount reference with many ties). On a GPU
(``device="cuda"``, or the model's device in ``bench run``) distances come from a blocked torch
matmul of ±1 codes, exact in float32: matches = (bits + q.g) / 2.
"""

from __future__ import annotations

import numpy as np

from harness import ConfigError, hookimpl
from plugins.indexers._base import Index, check_int, finish, pack_bits, sort_rows
from plugins.indexers._torch import blocked_search, resolve_device

# faiss's default of 32 queries per scan of the gallery re-reads the gallery too often
FAISS_QUERY_BATCH = 1024
MAX_BITS = 1 << 20  # ±1 dot products stay exact integers in float32 far beyond this


class HammingIndex(Index):
    """Binary codes (±1 or 0/1; positive means 1) ranked by Hamming distance, ties by gallery position.

    Score: the number of matching bits (bits minus the Hamming distance). ``query_block`` x
    ``gallery_block`` bounds the torch path's score matrix; faiss is called on ``query_block``
    queries at a time.
    """

    code_kind = "binary"

    def __init__(self, query_block: int = 4096, gallery_block: int = 65536, device=None):
        super().__init__()
        self.query_block = check_int("query_block", query_block)
        self.gallery_block = check_int("gallery_block", gallery_block)
        self.device = resolve_device(device)
        self._faiss = None
        self._torch = None

    def build(self, gallery) -> HammingIndex:
        gallery = self._check_build(gallery)
        if self.dim > MAX_BITS:
            raise ConfigError(f"hamming supports codes of at most {MAX_BITS} bits but got {self.dim}")
        self.bytes_per_item = -(-self.dim // 8)
        self._faiss = self._torch = None
        if self.size and self.device == "cpu":
            import faiss

            packed = pack_bits(gallery)  # zero padding to whole bytes leaves distances unchanged
            self._faiss = faiss.IndexBinaryFlat(8 * packed.shape[1])
            self._faiss.query_batch_size = FAISS_QUERY_BATCH
            self._faiss.add(packed)
        elif self.size:
            self._torch = TorchHammingSearch(gallery, self.device)
        return self

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = self._check_search(queries, k)
        if self.size == 0:
            return sort_rows(np.zeros((len(queries), 0)), np.zeros((len(queries), 0), dtype=np.int64), k)
        if self._torch is not None:
            return self._torch.search(queries, k, self.query_block, self.gallery_block)
        packed = pack_bits(queries)
        parts = []
        for q0 in range(0, len(packed), self.query_block):
            distances, idx = self._faiss.search(packed[q0 : q0 + self.query_block], min(k, self.size))
            parts.append(sort_rows(self.dim - distances.astype(np.float32), idx, k))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class TorchHammingSearch:
    """Hamming search as a blocked ±1 matmul in torch on ``device`` (the GPU path; CPU in tests)."""

    def __init__(self, gallery: np.ndarray, device: str):
        import torch

        self.device, self.bits = torch.device(device), gallery.shape[1]
        # ±1 in float16 is exact and half the memory; blocks are widened to float32 to multiply
        self.gallery = torch.from_numpy(np.where(gallery > 0, 1, -1).astype(np.float16)).to(self.device)

    def search(self, queries: np.ndarray, k: int, query_block: int, gallery_block: int):
        import torch

        q = torch.from_numpy(np.where(queries > 0, 1, -1).astype(np.float32)).to(self.device)

        def scores(q0, q1, g0, g1):
            return q[q0:q1] @ self.gallery[g0:g1].float().T

        with torch.no_grad():
            vals, idx = blocked_search(len(q), len(self.gallery), k, query_block, gallery_block, scores)
        return finish((self.bits + vals) / 2, idx)


@hookimpl
def register_indexers(register):
    register("hamming", HammingIndex, description="Exact Hamming search, ties by position; faiss on CPU, torch on GPU.")
