"""``zero-loss``: items whose triplets gave no loss are drawn less often (MassImageRetrieval's feedback)."""

from __future__ import annotations

import numpy as np

from harness import hookimpl, require
from plugins.samplers.pk import PKSampler


class ZeroLossSampler(PKSampler):
    """P×K batches drawn with per-item weights that the losses of past batches set.

    After each batch the trainer reports each item's loss (``observe``): an item with zero loss (no gradient)
    has its weight multiplied by ``decay`` (never below ``floor``), an item with a positive loss gets weight 1
    again; items without a value (NaN) keep theirs. Classes are drawn with probability ∝ their members' mean
    weight, and members ∝ their weight, without replacement within a batch. The trainer draws an epoch's
    batches when the epoch starts, so what one epoch observes steers the next.
    """

    def __init__(self, labels, batch_size: int, k: int = 4, decay: float = 0.5, floor: float = 0.05, seed: int = 0):
        super().__init__(labels, batch_size, k, seed)
        require(0 < decay <= 1, f"decay must be in (0, 1] but got {decay!r}")
        require(0 < floor <= 1, f"floor must be in (0, 1] but got {floor!r}")
        self.decay, self.floor = float(decay), float(floor)
        self.weights = np.ones(len(self.labels))

    def observe(self, positions, per_sample_losses, embeddings) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        losses = np.asarray(per_sample_losses, dtype=np.float64)
        known = np.isfinite(losses)
        zero = positions[known & (losses <= 0)]
        self.weights[zero] = np.maximum(self.weights[zero] * self.decay, self.floor)
        self.weights[positions[known & (losses > 0)]] = 1.0

    def _pk_batch(self, rng: np.random.Generator) -> list[int]:
        class_weights = np.array([self.weights[m].mean() for m in self.members])
        batch: list[int] = []
        for c in rng.choice(len(self.classes), self.p, replace=False, p=class_weights / class_weights.sum()):
            members = self.members[c]
            w = self.weights[members]
            if len(members) < self.k:
                batch.extend(rng.choice(members, self.k, replace=True, p=w / w.sum()))
            else:
                batch.extend(rng.choice(members, self.k, replace=False, p=w / w.sum()))
        return batch


@hookimpl
def register_samplers(register):
    register("zero-loss", ZeroLossSampler, description="P×K batches that draw zero-loss items less often")
