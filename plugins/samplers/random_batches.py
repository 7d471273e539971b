"""Shuffled batches: the plain baseline."""

from __future__ import annotations

from harness import hookimpl
from plugins.samplers._base import BatchSampler


class RandomSampler(BatchSampler):
    """A fresh permutation each epoch cut into full batches; the remainder is dropped."""

    def __init__(self, labels, batch_size: int, seed: int = 0):
        super().__init__(labels, batch_size, seed)

    def _batches(self, rng):
        order = rng.permutation(len(self.labels))
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size]


@hookimpl
def register_samplers(register):
    register("random", RandomSampler, description="Shuffled batches, remainder dropped")
