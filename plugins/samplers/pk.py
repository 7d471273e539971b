"""P classes × K images per batch (Hermans et al. 2017), the usual sampler for batch mining."""

from __future__ import annotations

import numpy as np

from harness import hookimpl
from plugins.samplers._base import BatchSampler, check_int, require


class PKSampler(BatchSampler):
    """Each batch holds P = batch_size // k distinct classes, drawn uniformly, with k images each.

    Images are drawn without replacement, except from a class with fewer than k images.
    An epoch is N // batch_size batches. batch_size must be a multiple of k.
    """

    def __init__(self, labels, batch_size: int, k: int = 4, seed: int = 0):
        super().__init__(labels, batch_size, seed)
        self.k = check_int("k", k, 1)
        require(self.batch_size % self.k == 0, f"batch_size {self.batch_size} is not a multiple of k={self.k}")
        self.p = self.batch_size // self.k
        self.classes, inverse = np.unique(self.labels, return_inverse=True)
        self.members = [np.flatnonzero(inverse == c) for c in range(len(self.classes))]
        require(
            self.p <= len(self.classes),
            f"batch_size {self.batch_size} with k={self.k} needs {self.p} classes per batch but the labels "
            f"have {len(self.classes)}; raise k or lower batch_size",
        )

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
