"""``hamming``: exact Hamming-distance search over bit-packed binary codes, streamed in blocks."""

from __future__ import annotations

import numpy as np

from harness import ConfigError, hookimpl
from plugins.indexers._base import Index, check_int, finish, pack_bits
from plugins.indexers._topk import stream_smallest

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (as uint8), with NumPy's bitwise_count where it exists."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    as_bytes = words.view(np.uint8).reshape(*words.shape, 8)
    return _POPCOUNT8[as_bytes].sum(axis=-1, dtype=np.uint8)


def pack_words(codes: np.ndarray) -> np.ndarray:
    """Codes packed into uint64 words (n, ceil(bits / 64)); zero padding leaves distances unchanged."""
    packed = pack_bits(codes)
    pad = (-packed.shape[1]) % 8
    packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


class HammingIndex(Index):
    """Binary codes (±1 or 0/1; positive means 1) ranked by Hamming distance, ties by gallery position.

    Score: the number of matching bits (bits minus the Hamming distance).
    """

    code_kind = "binary"

    def __init__(self, query_block: int = 1024, gallery_block: int = 8192):
        super().__init__()
        self.query_block = check_int("query_block", query_block)
        self.gallery_block = check_int("gallery_block", gallery_block)
        self._words: np.ndarray | None = None

    def build(self, gallery) -> HammingIndex:
        gallery = self._check_build(gallery)
        if self.dim >= np.iinfo(np.uint16).max:
            raise ConfigError(f"hamming supports codes of fewer than 65535 bits but got {self.dim}")
        self._words = pack_words(gallery)
        self.bytes_per_item = -(-self.dim // 8)
        return self

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = pack_words(self._check_search(queries, k))
        gallery = self._words

        def distances(q0, q1, g0, g1):
            block = popcount(queries[q0:q1, 0, None] ^ gallery[None, g0:g1, 0]).astype(np.uint16)
            for w in range(1, gallery.shape[1]):
                block += popcount(queries[q0:q1, w, None] ^ gallery[None, g0:g1, w])
            return block

        vals, idx = stream_smallest(
            len(queries), self.size, k, self.query_block, self.gallery_block, distances, np.uint16
        )
        return finish(self.dim - vals.astype(np.float32), idx)


@hookimpl
def register_indexers(register):
    register("hamming", HammingIndex, description="Exact Hamming search over bit-packed codes, streamed in blocks.")
