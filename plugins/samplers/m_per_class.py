"""``m-per-class``: pytorch-metric-learning's MPerClassSampler, m images of batch_size // m classes per batch.

With fewer than batch_size // m classes, m is raised to the smallest divisor of batch_size that the
classes can fill (5 classes, batch 32: m=8), so the peer recipes run on unseen-classes competitions.
"""

from __future__ import annotations

import importlib

import numpy as np

from harness import ConfigError, hookimpl
from plugins.samplers._base import BatchSampler, check_int, require


class MPerClassSampler(BatchSampler):
    """PML's MPerClassSampler cut into batches. PML draws from a module-level RandomState; it is replaced
    by one seeded with (seed, epoch) while an epoch's indices are drawn, so batches are reproducible."""

    def __init__(self, labels, batch_size: int, m: int = 4, seed: int = 0):
        super().__init__(labels, batch_size, seed)
        self.m = check_int("m", m, 1)
        require(self.batch_size % self.m == 0, f"batch_size {self.batch_size} is not a multiple of m={self.m}")
        classes = len(np.unique(self.labels))
        # Too few classes for batch_size // m of them (an unseen-classes competition trains on 5): the
        # smallest m that lets the classes fill a batch, where PML's sampler would refuse.
        self.m = next(
            d for d in range(self.m, self.batch_size + 1) if self.batch_size % d == 0 and d * classes >= self.batch_size
        )
        try:
            self._pml = importlib.import_module("pytorch_metric_learning.samplers")
            self._common = importlib.import_module("pytorch_metric_learning.utils.common_functions")
        except ImportError:
            raise ConfigError("sampler m-per-class needs pytorch-metric-learning: pip install 'bench[pml]'") from None

    def _batches(self, rng):
        size = len(self) * self.batch_size
        sampler = self._pml.MPerClassSampler(self.labels, self.m, self.batch_size, length_before_new_iter=size)
        shared = self._common.NUMPY_RANDOM
        self._common.NUMPY_RANDOM = np.random.RandomState(rng.integers(2**32))
        try:
            order = np.fromiter(iter(sampler), dtype=np.int64, count=size)
        finally:
            self._common.NUMPY_RANDOM = shared
        yield from order.reshape(-1, self.batch_size)


@hookimpl
def register_samplers(register):
    register("m-per-class", MPerClassSampler, description="pytorch-metric-learning MPerClassSampler")
