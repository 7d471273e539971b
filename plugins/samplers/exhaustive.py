"""Every item exactly once per epoch before any repeats."""

from __future__ import annotations

import math

import numpy as np

from harness import hookimpl
from plugins.samplers._base import BatchSampler


class ExhaustiveSampler(BatchSampler):
    """A permutation cut into ceil(N / batch_size) batches; the last one is topped up with
    distinct items already drawn this epoch, so every batch is full and no item is left out."""

    def __init__(self, labels, batch_size: int, seed: int = 0):
        super().__init__(labels, batch_size, seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def _batches(self, rng):
        n = len(self.labels)
        order = rng.permutation(n)
        for start in range(0, n, self.batch_size):
            batch = order[start : start + self.batch_size]
            short = self.batch_size - len(batch)
            if short:
                batch = np.concatenate([batch, rng.choice(order[:start], short, replace=False)])
            yield batch


@hookimpl
def register_samplers(register):
    register("exhaustive", ExhaustiveSampler, description="Each item once per epoch before any repeats")
