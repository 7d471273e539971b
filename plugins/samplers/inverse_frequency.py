"""Batches that favour the items drawn least so far, with counts kept across epochs."""

from __future__ import annotations

import numpy as np

from harness import hookimpl
from plugins.samplers._base import BatchSampler, require

_FLOOR = 1e-12  # keeps every item drawable, so a batch of distinct items always exists


class InverseFrequencySampler(BatchSampler):
    """Each batch draws batch_size distinct items with probability ∝ 1 − p_i, normalised.

    p_i is item i's count over the largest count (`relative_to="max"`, the default), or its share
    of all past draws (`"total"`). The share of N items is about 1/N, so with "total" the weights
    all sit near 1 and the sampler is nearly uniform once N is more than a few dozen; "max" keeps
    the push toward rarely drawn items strong at any N. Counts update after every batch and
    persist across epochs. An epoch is N // batch_size batches.
    """

    def __init__(self, labels, batch_size: int, relative_to: str = "max", seed: int = 0):
        super().__init__(labels, batch_size, seed)
        require(relative_to in ("total", "max"), f"relative_to must be 'max' or 'total' but got {relative_to!r}")
        self.relative_to = relative_to
        self.counts = np.zeros(len(self.labels), dtype=np.int64)

    def probabilities(self) -> np.ndarray:
        counts = self.counts.astype(np.float64)
        scale = counts.sum() if self.relative_to == "total" else counts.max()
        weights = np.maximum(1.0 - counts / scale, _FLOOR) if scale > 0 else np.ones_like(counts)
        return weights / weights.sum()

    def _batches(self, rng):
        for _ in range(len(self)):
            batch = rng.choice(len(self.labels), self.batch_size, replace=False, p=self.probabilities())
            self.counts[batch] += 1
            yield batch


@hookimpl
def register_samplers(register):
    register("inverse-frequency", InverseFrequencySampler, description="Favours items drawn least so far")
