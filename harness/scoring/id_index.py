"""Exact lookup of ids (Arrow strings) to their positions in a fixed set, vectorised with NumPy.

A submission of 100,000 x 100 holds 10 million neighbour ids to find among 440,000 gallery ids.
pyarrow's ``index_in`` rebuilds its hash table of the value set on every call (0.12 s per block
here) and probes at about 200 ns an id; this table is built once per file and probed a chunk of
ids at a time. Open addressing with linear probing, at most a quarter full; an id matches only
when its length and every byte agree, so a hash collision costs time, never a wrong answer.

Why not ``index_in`` (issue 21, item 7; ``python benchmarks/submission.py --csv-only --repeats 9``,
which runs bench's CLI both ways, interleaved, on a 2-core machine at load 6 to 9; medians, ``CPU s``
is user + system time, ``/usr/bin/time -v`` agrees):

- the id lookup alone, one thread: IdIndex 1.67 s, index_in 2.91 s (1.74x; 1.56x to 2.4x over four runs);
- ``bench validate``: IdIndex 4.69 CPU s, 904 MB; index_in 5.92 CPU s, 929 MB (1.26x CPU; 1.22x in a
  7-round run);
- ``bench submit``: IdIndex 6.47 CPU s, 892 MB; index_in 8.50 CPU s, 918 MB (1.31x CPU; 1.34x).

README's figures for IdIndex in a slow stretch, ``bench validate`` 2.70 s and ``bench submit`` 4.51 s
against goals of 3 s and 5 s, would become about 3.3 s and 5.9 s at those ratios: index_in breaks
both goals where this table keeps them (on an idle machine, 1.89 s and 3.35 s, both would hold).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.data.arrow import nulls

if TYPE_CHECKING:
    from pyarrow import Array

_MASKS = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [2**64 - 1], dtype=np.uint64)
_SEED = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_FINAL = np.uint64(0xFF51AFD7ED558CCD)


_CHUNK = 1 << 18  # values looked up at once: temporaries stay a few MB (and in cache), whatever the block
_LONG_CHAIN = 32  # seating rounds before repeated ids are looked for (a quarter-full table needs far fewer)


class Strings:
    """An Arrow string array's bytes: each value's 8-byte little-endian words, for a range of values."""

    def __init__(self, array: Array, words: int):
        import pyarrow.types as types

        _, offsets, data = array.buffers()[:3]
        width = 8 if types.is_large_string(array.type) or types.is_large_binary(array.type) else 4
        self.offsets = (
            np.frombuffer(offsets, np.dtype(f"<i{width}"))[array.offset : array.offset + len(array) + 1]
            if len(array)
            else np.zeros(1, dtype=np.int64)
        )
        chars = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        start, stop = int(self.offsets[0]), int(self.offsets[-1])
        padded = np.zeros(stop - start + 8 * words + 8, dtype=np.uint8)  # words read past the end stay inside
        padded[: stop - start] = chars[start:stop]
        self.base = start
        self._window = np.ndarray(shape=(stop - start + 8 * words + 1,), dtype="<u8", buffer=padded, strides=(1,))
        self.nulls = nulls(array) if array.null_count else None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def span(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(starts, lengths) of values start..stop-1, starts counted from this object's first byte."""
        offsets = self.offsets[start : stop + 1].astype(np.int64)
        return offsets[:-1] - self.base, np.diff(offsets)

    def word(self, w: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Bytes 8w..8w+7 of the values at ``starts`` (of ``lengths``), zero past each one's end."""
        return self._window[starts + 8 * w] & np.take(_MASKS, np.clip(lengths - 8 * w, 0, 8))


def hashes_of(lengths: np.ndarray, words: list[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each value's length and words."""
    h = lengths.astype(np.uint64) * _SEED
    for word in words:
        h ^= word
        h *= _MIX
        h ^= h >> np.uint64(29)
    h ^= h >> np.uint64(33)
    h *= _FINAL
    h ^= h >> np.uint64(33)
    return h


class IdIndex:
    """Positions of ids in ``ids`` (an Arrow string array without nulls): the first position, for a
    repeated id."""

    def __init__(self, ids: Array):
        import pyarrow.compute as pc

        self.words = max(1, (int(pc.max(pc.binary_length(ids)).as_py() or 0) + 7) // 8)
        strings = Strings(ids, self.words)
        starts, self.lengths = strings.span(0, len(strings))
        self.id_words = [strings.word(w, starts, self.lengths) for w in range(self.words)]
        hashes = hashes_of(self.lengths, self.id_words)
        n = len(self.lengths)
        self.bits = max(4, int(np.ceil(np.log2(4 * n + 1))))
        self.table = np.full(1 << self.bits, -1, dtype=np.int64)
        slot = self._home(hashes)
        pending = np.arange(n)
        rounds = 0
        while len(pending):  # each round seats, for every free slot wanted, the lowest position wanting it
            rounds += 1
            if rounds % _LONG_CHAIN == 0:  # copies of one id walk one chain: drop those whose first is seated
                pending = pending[self._lookup(strings, starts[pending], self.lengths[pending]) < 0]
            wanted = slot[pending]
            free = self.table[wanted] < 0
            taken, first = np.unique(wanted[free], return_index=True)
            seated = np.flatnonzero(free)[first]
            self.table[taken] = pending[seated]
            keep = np.ones(len(pending), dtype=bool)
            keep[seated] = False
            pending = pending[keep]
            slot[pending] = (slot[pending] + 1) & (len(self.table) - 1)

    def _home(self, hashes: np.ndarray) -> np.ndarray:
        return (hashes >> np.uint64(64 - self.bits)).astype(np.int64)

    def positions(self, values: Array) -> np.ndarray:
        """Position of each of ``values`` (an Arrow string array) among the ids; -1 if absent or null."""
        found = Strings(values, self.words)
        out = np.full(len(found), -1, dtype=np.int64)
        if len(self.lengths) == 0:
            return out
        for start in range(0, len(found), _CHUNK):
            stop = min(start + _CHUNK, len(found))
            out[start:stop] = self._lookup(found, *found.span(start, stop))
        if found.nulls is not None:
            out[found.nulls] = -1
        return out

    def _lookup(self, found: Strings, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        out = np.full(len(starts), -1, dtype=np.int64)
        at = np.flatnonzero(lengths <= 8 * self.words)  # longer values match no id
        if len(at) < len(starts):
            starts, lengths = starts[at], lengths[at]
        words = [found.word(w, starts, lengths) for w in range(self.words)]
        slot = self._home(hashes_of(lengths, words))
        while len(at):  # the values not yet found or refused, compacted after each probe
            candidate = self.table[slot]
            seated = candidate >= 0
            ids = np.where(seated, candidate, 0)
            match = seated & (self.lengths[ids] == lengths)
            for id_word, word in zip(self.id_words, words):  # the bytes decide: a hash collision never matches
                match &= id_word[ids] == word
            out[at[match]] = candidate[match]
            go_on = seated & ~match
            at, lengths, slot = at[go_on], lengths[go_on], (slot[go_on] + 1) & (len(self.table) - 1)
            words = [word[go_on] for word in words]
        return out
