"""Batches built around anchors and their hardest negatives, from embeddings the trainer refreshes."""

from __future__ import annotations

import numpy as np

from harness import hookimpl
from plugins.samplers._base import check_int, require
from plugins.samplers.pk import PKSampler

_BLOCK_ELEMENTS = 1 << 22  # distance rows computed per block: memory stays O(block), not O(N²)


class HardNegativeSampler(PKSampler):
    """Before the first `refresh`, P×K batches. After it, each batch is consecutive groups
    (anchor, positive, negative) cut to batch_size: anchors in a fresh random order, a random
    other item of the anchor's class as positive (the anchor itself for a singleton class), and

    - strategy="hardest": one of the anchor's `pool` nearest other-class items (euclidean, as
      embedded; pool=1 is the nearest);
    - strategy="distance-weighted": a negative drawn with weight ∝ 1/q(d) on the unit sphere
      (Wu et al. 2017), d clipped below at `cutoff`, weight 0 beyond `nonzero_loss_cutoff`.

    The trainer re-embeds the train set every `refresh_every` epochs and calls `refresh`.
    """

    def __init__(
        self,
        labels,
        batch_size: int,
        k: int = 4,
        refresh_every: int = 1,
        strategy: str = "hardest",
        pool: int = 1,
        cutoff: float = 0.5,
        nonzero_loss_cutoff: float = 1.4,
        seed: int = 0,
    ):
        super().__init__(labels, batch_size, k, seed)
        self.refresh_every = check_int("refresh_every", refresh_every, 1)
        self.pool = check_int("pool", pool, 1)
        strategies = ("hardest", "distance-weighted")
        require(strategy in strategies, f"strategy must be one of {strategies} but got {strategy!r}")
        require(len(self.classes) >= 2, "hard-negative sampling needs at least 2 classes")
        require(
            0 <= cutoff < min(2.0, nonzero_loss_cutoff),
            f"need 0 <= cutoff < min(2, nonzero_loss_cutoff) but got {cutoff!r} and {nonzero_loss_cutoff!r}",
        )
        self.strategy, self.cutoff, self.nonzero_loss_cutoff = strategy, float(cutoff), float(nonzero_loss_cutoff)
        self.embeddings: np.ndarray | None = None
        self.negatives: np.ndarray | None = None  # (N, pool) nearest other-class items, nearest first

    def refresh(self, embeddings) -> None:
        if hasattr(embeddings, "detach"):  # a torch tensor, possibly on a GPU
            embeddings = embeddings.detach().cpu().numpy()
        x = np.asarray(embeddings, dtype=np.float64)
        n = len(self.labels)
        require(x.ndim == 2 and len(x) == n, f"refresh needs ({n}, D) embeddings but got shape {x.shape}")
        if self.strategy == "distance-weighted":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        self.embeddings = x
        if self.strategy == "hardest":
            self.negatives = self._nearest_negatives(x)

    def _distances(self, rows: np.ndarray) -> np.ndarray:
        x = self.embeddings
        d2 = (x[rows] ** 2).sum(1)[:, None] + (x**2).sum(1)[None, :] - 2.0 * x[rows] @ x.T
        return np.sqrt(np.maximum(d2, 0.0))

    def _nearest_negatives(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        pool = min(self.pool, n - max(len(m) for m in self.members))
        out = np.empty((n, pool), dtype=np.int64)
        step = max(1, _BLOCK_ELEMENTS // n)
        for start in range(0, n, step):
            rows = np.arange(start, min(start + step, n))
            d = self._distances(rows)
            d[self.labels[rows][:, None] == self.labels[None, :]] = np.inf
            out[rows] = _nearest_by_position(d, pool)
        return out

    def _negative(self, anchor: int, rng: np.random.Generator) -> int:
        if self.strategy == "hardest":
            return int(rng.choice(self.negatives[anchor]))
        d = self._distances(np.array([anchor]))[0]
        dim = self.embeddings.shape[1]
        clipped = np.maximum(d, self.cutoff)
        log_q = (dim - 2.0) * np.log(clipped) + (dim - 3.0) / 2.0 * np.log(np.maximum(1.0 - clipped**2 / 4.0, 1e-8))
        allowed = (self.labels != self.labels[anchor]) & (d < self.nonzero_loss_cutoff)
        if not allowed.any():
            allowed = self.labels != self.labels[anchor]
        log_w = np.where(allowed, -log_q, -np.inf)
        weights = np.exp(log_w - log_w.max())
        return int(rng.choice(len(d), p=weights / weights.sum()))

    def _positive(self, anchor: int, rng: np.random.Generator) -> int:
        members = self.members[np.searchsorted(self.classes, self.labels[anchor])]
        others = members[members != anchor]
        return int(rng.choice(others)) if len(others) else anchor

    def _batches(self, rng):
        if self.embeddings is None:
            yield from super()._batches(rng)
            return
        anchors = rng.permutation(len(self.labels))
        position = 0
        for _ in range(len(self)):
            batch: list[int] = []
            while len(batch) < self.batch_size:
                anchor = int(anchors[position % len(anchors)])
                position += 1
                batch += [anchor, self._positive(anchor, rng), self._negative(anchor, rng)]
            yield batch[: self.batch_size]


@hookimpl
def register_samplers(register):
    register(
        "hard-negative", HardNegativeSampler, description="Anchors with their hardest or distance-weighted negatives"
    )


def _nearest_by_position(d: np.ndarray, pool: int) -> np.ndarray:
    """Each row's ``pool`` smallest entries, nearest first, ties by position: a full stable sort's answer.

    NumPy's argpartition picks among tied values by its SIMD kernel (AVX-512 and AVX2 disagree), so a
    row would differ between machines. The pool-th smallest value is unique whatever the kernel; the
    items at or below it are taken in position order and sorted stably.
    """
    kth = np.partition(d, pool - 1, axis=1)[:, pool - 1 : pool]
    chosen = d <= kth
    counts = chosen.sum(axis=1)
    out = np.empty((len(d), pool), dtype=np.int64)
    even = counts == pool  # no tie at the boundary: the usual case, done for all such rows at once
    if even.any():
        candidates = np.nonzero(chosen[even])[1].reshape(-1, pool)
        order = np.argsort(np.take_along_axis(d[even], candidates, 1), axis=1, kind="stable")
        out[even] = np.take_along_axis(candidates, order, 1)
    for row in np.flatnonzero(~even):
        candidates = np.flatnonzero(chosen[row])
        out[row] = candidates[np.argsort(d[row, candidates], kind="stable")[:pool]]
    return out
