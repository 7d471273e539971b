"""Training diagnostics the seed documents ask for, recorded per epoch in the run's history.

- Triplet census: of every (anchor, positive, negative) triplet in the training batches (up to 8 evenly
  spread batches per epoch: ``loop.CENSUS_BATCHES``), the share that is
  easy (d(a,n) > d(a,p) + margin: no gradient), semi-hard (d(a,p) < d(a,n) <= d(a,p) + margin) or hard
  (d(a,n) <= d(a,p)), FaceNet's definitions; distances and margin are the loss's (``loss.distance`` and
  ``loss.margin`` when its config has them, else euclidean and 0.2). With a loss that gives per-sample
  values, also the share of batch samples whose loss was exactly zero.
- Neighbour stability: the mean overlap of each val item's top-10 neighbours between consecutive
  evaluations (1.0: the ranking no longer moves). Ten, not the competition's k: with k near the val size
  every item's neighbour set is the whole val split and the overlap would always be 1.

Everything here is measured on detached tensors and never changes what the model learns.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

DEFAULT_MARGIN = 0.2
STABILITY_K = 10


def triplet_counts(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float, distance: str = "euclidean"
) -> np.ndarray:
    """``[easy, semihard, hard]`` counts over all triplets (a, p, n), a != p, label(a) == label(p) != label(n)."""
    return triplet_count_tensor(torch.as_tensor(embeddings), labels, margin, distance).cpu().numpy()


def triplet_count_tensor(
    embeddings: torch.Tensor, labels: torch.Tensor | np.ndarray, margin: float, distance: str = "euclidean"
) -> torch.Tensor:
    """:func:`triplet_counts` as an int64 tensor on the embeddings' device (nothing is read back).

    Each anchor's negative distances are sorted once; a positive's hard and within-margin negatives are then
    two binary searches: O(B^2 log B) instead of a (B, B, B) comparison.
    """
    x = embeddings.detach().float()
    labels = torch.as_tensor(labels, device=x.device).reshape(-1)
    if distance == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        d = 1.0 - x @ x.T
    else:
        d = torch.cdist(x, x)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=x.device)
    negatives = torch.where(same, torch.full_like(d, math.inf), d).sort(dim=1).values.contiguous()
    at_most = torch.searchsorted(negatives, d.contiguous(), right=True)  # negatives with d(a, n) <= d(a, p)
    within = torch.searchsorted(negatives, (d + margin).contiguous(), right=True)  # d(a, n) <= d(a, p) + margin
    valid = (positive.sum(dim=1) * (~same).sum(dim=1)).sum()
    hard = (at_most * positive).sum()
    not_easy = (within * positive).sum()
    return torch.stack([valid - not_easy, not_easy - hard, hard]).to(torch.int64)


class EpochDiagnostics:
    """Accumulates the triplet census of one epoch's batches; ``record()`` gives the history fields.

    Counts stay on the training device until ``record()``: observing a batch never waits for the device."""

    def __init__(self, loss: dict[str, Any]):
        """``loss``: the run's loss section (its margin and distance, when it has them)."""
        margin = loss.get("margin", DEFAULT_MARGIN)
        self.margin = float(margin) if isinstance(margin, (int, float)) and not isinstance(margin, bool) else 0.2
        self.distance = loss.get("distance") if loss.get("distance") in ("euclidean", "cosine") else "euclidean"
        self.start_epoch()

    def start_epoch(self) -> None:
        self.counts: torch.Tensor | None = None
        self.zero: torch.Tensor | None = None
        self.samples: torch.Tensor | None = None

    def observe(
        self, embeddings: torch.Tensor, labels: torch.Tensor, per_sample: torch.Tensor | np.ndarray | None = None
    ) -> None:
        """One training batch, with the loss's per-sample values (tensor or array) when it gives them (else None)."""
        with torch.no_grad():
            counts = triplet_count_tensor(embeddings, labels.detach(), self.margin, self.distance)
            self.counts = counts if self.counts is None else self.counts + counts
            if per_sample is None:
                return
            values = torch.as_tensor(per_sample).detach()
            finite = torch.isfinite(values).all()
            zero = torch.where(finite, (values == 0).sum(), 0)
            samples = torch.where(finite, values.numel(), 0)
            self.zero = zero if self.zero is None else self.zero + zero
            self.samples = samples if self.samples is None else self.samples + samples

    def record(self) -> dict[str, float]:
        out: dict[str, float] = {}
        counts = np.zeros(3, dtype=np.int64) if self.counts is None else self.counts.cpu().numpy()
        total = int(counts.sum())
        if total:
            easy, semihard, hard = (round(float(c) / total, 6) for c in counts)
            out.update(easy_triplets=easy, semihard_triplets=semihard, hard_triplets=hard)
        samples = 0 if self.samples is None else int(self.samples)
        if samples:
            out["zero_loss_samples"] = round(int(self.zero) / samples, 6)
        return out


class NeighbourStability:
    """Top-10 overlap of val neighbours between consecutive evaluations."""

    def __init__(self):
        self.previous: np.ndarray | None = None

    def update(self, ranked: np.ndarray) -> float | None:
        """The mean share of each item's neighbours that were already among its neighbours last time."""
        ranked = np.asarray(ranked, dtype=np.int64)[:, :STABILITY_K]
        previous, self.previous = self.previous, ranked
        if previous is None or previous.shape != ranked.shape or ranked.shape[1] == 0:
            return None
        k = ranked.shape[1]
        shared = [len(np.intersect1d(a[a >= 0], b[b >= 0])) for a, b in zip(ranked, previous)]
        return round(float(np.mean(shared)) / k, 6)
