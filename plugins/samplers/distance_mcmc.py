"""``distance-mcmc``: batches from a Markov chain over items whose transitions follow the train distances."""

from __future__ import annotations

import numpy as np

from harness import check_int, hookimpl, require
from plugins.samplers._embedded import distances_from, unit_rows
from plugins.samplers.pk import PKSampler


class DistanceMCMCSampler(PKSampler):
    """P×K batches until the first ``refresh``; then a Markov chain over the train items picks the classes.

    After each epoch the trainer passes the train embeddings; the distance matrix (euclidean between
    L2-normalised embeddings, computed a row at a time) becomes transition probabilities:
    P(i -> j) ∝ exp(-d(i, j) / temperature) over items j of classes not yet in the batch. Each batch follows
    the chain for P = batch_size // k steps; every state brings its item and k - 1 random others of its class.
    Consecutive states are close items of different classes: the confusable classes meet in one batch.
    The chain carries on from batch to batch.
    """

    def __init__(
        self, labels, batch_size: int, k: int = 4, temperature: float = 0.1, refresh_every: int = 1, seed: int = 0
    ):
        super().__init__(labels, batch_size, k, seed)
        require(temperature > 0, f"temperature must be positive but got {temperature!r}")
        self.temperature = float(temperature)
        self.refresh_every = check_int("refresh_every", refresh_every, 1)
        self.embeddings: np.ndarray | None = None
        self.state: int | None = None

    def refresh(self, embeddings) -> None:
        self.embeddings = unit_rows(embeddings, len(self.labels))

    def transition(self, state: int, excluded_classes) -> np.ndarray:
        """Probabilities of moving from ``state`` to each item (0 for items of ``excluded_classes``)."""
        d = distances_from(self.embeddings, state)
        allowed = ~np.isin(self.labels, list(excluded_classes))
        logits = np.where(allowed, -d / self.temperature, -np.inf)
        weights = np.exp(logits - logits[allowed].max())
        return weights / weights.sum()

    def _chain_batch(self, rng: np.random.Generator) -> list[int]:
        batch: list[int] = []
        seen: set[int] = set()
        state = self.state if self.state is not None else int(rng.integers(len(self.labels)))
        for _ in range(self.p):
            label = int(self.labels[state])
            members = self.members[int(np.searchsorted(self.classes, label))]
            others = members[members != state]
            if len(others):
                batch += [state, *rng.choice(others, self.k - 1, replace=len(others) < self.k - 1).tolist()]
            else:  # a class of one item
                batch += [state] * self.k
            seen.add(label)
            excluded = seen if len(seen) < len(self.classes) else {label}
            state = int(rng.choice(len(self.labels), p=self.transition(state, excluded)))
        self.state = state
        return batch

    def _batches(self, rng):
        for _ in range(len(self)):
            yield self._pk_batch(rng) if self.embeddings is None else self._chain_batch(rng)


@hookimpl
def register_samplers(register):
    register(
        "distance-mcmc",
        DistanceMCMCSampler,
        description="A Markov chain over items, transitions from the train distance matrix (MassImageRetrieval)",
    )
