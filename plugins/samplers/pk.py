"""P classes × K images per batch (Hermans et al. 2017), the usual sampler for batch mining."""

from __future__ import annotations

import numpy as np

from harness import hookimpl
from plugins.samplers._base import BatchSampler, check_int, require


class PKSampler(BatchSampler):
    """Each batch holds P = batch_size // k distinct classes, drawn uniformly, with k images each.

    Images are drawn without replacement, except from a class with fewer than k images.
    An epoch is N // batch_size batches. batch_size must be a multiple of k. With fewer than
    batch_size // k classes, k rises to the smallest divisor of batch_size that they can fill.
    """

    def __init__(self, labels, batch_size: int, k: int = 4, seed: int = 0):
        super().__init__(labels, batch_size, seed)
        self.k = check_int("k", k, 1)
        require(self.batch_size % self.k == 0, f"batch_size {self.batch_size} is not a multiple of k={self.k}")
        self.classes, inverse = np.unique(self.labels, return_inverse=True)
        self.members = [np.flatnonzero(inverse == c) for c in range(len(self.classes))]
        # Fewer classes than batch_size // k (an unseen-classes competition trains on 5): the smallest k
        # that the classes can fill, rather than a batch the labels cannot give.
        self.k = next(
            d
            for d in range(self.k, self.batch_size + 1)
            if self.batch_size % d == 0 and self.batch_size // d <= len(self.classes)
        )
        self.p = self.batch_size // self.k

    def _pk_batch(self, rng: np.random.Generator) -> list[int]:
        batch: list[int] = []
        for c in rng.choice(len(self.classes), self.p, replace=False):
            members = self.members[c]
            batch.extend(rng.choice(members, self.k, replace=len(members) < self.k))
        return batch

    def _batches(self, rng):
        for _ in range(len(self)):
            yield self._pk_batch(rng)


@hookimpl
def register_samplers(register):
    register("pk", PKSampler, description="P classes x K images per batch")
