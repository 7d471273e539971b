"""The shared base of the built-in batch samplers (a helper module: it registers nothing).

Batches are reproducible: epoch e of a sampler with seed s draws from the generator seeded
with (s, e). The trainer announces each epoch with `on_epoch_start`; iterating again without
that call moves on to the next epoch, so batches never silently repeat.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from harness import check_int, require


def as_labels(labels: Any) -> np.ndarray:
    if hasattr(labels, "detach"):  # a torch tensor, possibly on a GPU
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    shape = array.shape
    require(array.ndim == 1 and array.size > 0, f"sampler labels must be a non-empty 1-D array but got shape {shape}")
    require(np.issubdtype(array.dtype, np.integer), f"sampler labels must be integers but got dtype {array.dtype}")
    return array.astype(np.int64)


class BatchSampler:
    """Batches of `batch_size` indices; subclasses implement `_batches(rng)`."""

    def __init__(self, labels: Any, batch_size: int, seed: int = 0):
        self.labels = as_labels(labels)
        self.batch_size = check_int("batch_size", batch_size, 2)
        self.seed = check_int("seed", seed, 0)
        require(
            self.batch_size <= len(self.labels),
            f"batch_size {self.batch_size} is larger than the {len(self.labels)} training items",
        )
        self.epoch = 0

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        for batch in self._batches(rng):
            yield [int(i) for i in batch]

    def _batches(self, rng: np.random.Generator) -> Iterator[Any]:
        raise NotImplementedError
