"""``angle``: triplets whose positive and negative lie on the same side of the anchor (MassImageRetrieval)."""

from __future__ import annotations

import numpy as np

from harness import check_int, hookimpl, require
from plugins.samplers._embedded import unit_rows
from plugins.samplers.pk import PKSampler


class AngleSampler(PKSampler):
    """P×K batches until the first ``refresh``; then consecutive (anchor, positive, negative) triplets that meet
    the direction condition (x_p − x_a)·(x_n − x_a) > 0 on the L2-normalised train embeddings.

    Such a negative lies in the positive's direction from the anchor, where pulling the positive in also
    pushes against the negative. A random anchor is paired with a random positive and negative up to
    ``tries`` times; an anchor with no satisfying draw is replaced by another one (after ``tries`` anchors,
    the last draw is kept so that an epoch always ends).
    """

    def __init__(self, labels, batch_size: int, k: int = 4, tries: int = 20, refresh_every: int = 1, seed: int = 0):
        super().__init__(labels, batch_size, k, seed)
        self.tries = check_int("tries", tries, 1)
        self.refresh_every = check_int("refresh_every", refresh_every, 1)
        require(len(self.classes) >= 2, "angle sampling needs at least 2 classes")
        self.embeddings: np.ndarray | None = None

    def refresh(self, embeddings) -> None:
        self.embeddings = unit_rows(embeddings, len(self.labels))

    def same_side(self, anchor: int, positive: int, negative: int) -> bool:
        x = self.embeddings
        return float((x[positive] - x[anchor]) @ (x[negative] - x[anchor])) > 0

    def _draw(self, anchor: int, rng: np.random.Generator) -> list[int]:
        same = self.labels == self.labels[anchor]
        positives = np.flatnonzero(same & (np.arange(len(same)) != anchor))
        negatives = np.flatnonzero(~same)
        positive = int(rng.choice(positives)) if len(positives) else anchor
        return [anchor, positive, int(rng.choice(negatives))]

    def triplet(self, rng: np.random.Generator) -> list[int]:
        for _ in range(self.tries):
            anchor = int(rng.integers(len(self.labels)))
            for _ in range(self.tries):
                candidate = self._draw(anchor, rng)
                if self.same_side(*candidate):
                    return candidate
        return candidate

    def _batches(self, rng):
        if self.embeddings is None:
            yield from super()._batches(rng)
            return
        for _ in range(len(self)):
            batch: list[int] = []
            while len(batch) < self.batch_size:
                batch += self.triplet(rng)
            yield batch[: self.batch_size]


@hookimpl
def register_samplers(register):
    register(
        "angle", AngleSampler, description="Triplets whose positive and negative lie on the same side of the anchor"
    )
