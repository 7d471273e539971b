"""``pair-ratio``: batches of pairs with a fixed positive:negative ratio (Bell & Bala 2015 use 1:20)."""

from __future__ import annotations

import numpy as np

from harness import check_int, hookimpl, require
from plugins.samplers._base import BatchSampler


class PairRatioSampler(BatchSampler):
    """Each batch is batch_size / 2 pairs laid side by side: items (0, 1), (2, 3), ... (pair with
    ``loss.pairs=adjacent`` of the contrastive loss, which then scores exactly these pairs).

    One pair in ``negatives_per_positive + 1`` is positive: two distinct items of one class (classes drawn
    uniformly among those with two items or more); the others are negative: a random item and a random
    item of another class. Batch j holds round((j+1)·q) − round(j·q) positive pairs, q = pairs per batch /
    (ratio + 1), so the ratio holds over every run of batches; pairs are shuffled within a batch.
    """

    def __init__(self, labels, batch_size: int, negatives_per_positive: int = 20, seed: int = 0):
        super().__init__(labels, batch_size, seed)
        require(self.batch_size % 2 == 0, f"pair-ratio needs an even batch_size but got {self.batch_size}")
        self.ratio = check_int("negatives_per_positive", negatives_per_positive, 0)
        self.classes, inverse = np.unique(self.labels, return_inverse=True)
        self.members = [np.flatnonzero(inverse == c) for c in range(len(self.classes))]
        self.pairable = [m for m in self.members if len(m) >= 2]
        require(len(self.pairable) > 0, "pair-ratio needs a class with at least 2 items")
        require(len(self.classes) >= 2, "pair-ratio needs at least 2 classes")

    def positives_in(self, batch: int) -> int:
        q = (self.batch_size // 2) / (self.ratio + 1)
        return round((batch + 1) * q) - round(batch * q)

    def _positive(self, rng: np.random.Generator) -> list[int]:
        members = self.pairable[int(rng.integers(len(self.pairable)))]
        return rng.choice(members, 2, replace=False).tolist()

    def _negative(self, rng: np.random.Generator) -> list[int]:
        first = int(rng.integers(len(self.labels)))
        return [first, int(rng.choice(np.flatnonzero(self.labels != self.labels[first])))]

    def _batches(self, rng):
        pairs_per_batch = self.batch_size // 2
        for j in range(len(self)):
            positives = self.positives_in(j)
            pairs = [self._positive(rng) for _ in range(positives)]
            pairs += [self._negative(rng) for _ in range(pairs_per_batch - positives)]
            yield [i for pair_index in rng.permutation(len(pairs)) for i in pairs[pair_index]]


@hookimpl
def register_samplers(register):
    register(
        "pair-ratio", PairRatioSampler, description="Pairs with a fixed positive:negative ratio (Bell & Bala 1:20)"
    )
