"""Training diagnostics the seed documents ask for, recorded per epoch in the run's history.

- Triplet census: of every (anchor, positive, negative) triplet in the training batches, the share that is
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

from typing import Any

import numpy as np
import torch

DEFAULT_MARGIN = 0.2
STABILITY_K = 10
ANCHOR_BLOCK = 64


def triplet_counts(embeddings: torch.Tensor, labels: torch.Tensor, margin: float, distance: str = "euclidean"):
    """``[easy, semihard, hard]`` counts over all triplets (a, p, n), a != p, label(a) == label(p) != label(n)."""
    x = torch.as_tensor(embeddings).detach().float()
    labels = torch.as_tensor(labels, device=x.device).reshape(-1)
    if distance == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        d = 1.0 - x @ x.T
    else:
        d = torch.cdist(x, x)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=x.device)
    counts = torch.zeros(3, dtype=torch.int64)
    for start in range(0, len(labels), ANCHOR_BLOCK):  # (block, B, B) at a time: memory stays bounded
        rows = slice(start, start + ANCHOR_BLOCK)
        gap = d[rows, None, :] - d[rows, :, None]  # [a, p, n] = d(a, n) - d(a, p)
        valid = positive[rows, :, None] & ~same[rows, None, :]
        hard = valid & (gap <= 0)
        easy = valid & (gap > margin)
        counts += torch.stack([easy.sum(), valid.sum() - easy.sum() - hard.sum(), hard.sum()]).cpu()
    return counts.numpy()


class EpochDiagnostics:
    """Accumulates the triplet census of one epoch's batches; ``record()`` gives the history fields."""

    def __init__(self, loss: dict[str, Any]):
        """``loss``: the run's loss section (its margin and distance, when it has them)."""
        margin = loss.get("margin", DEFAULT_MARGIN)
        self.margin = float(margin) if isinstance(margin, (int, float)) and not isinstance(margin, bool) else 0.2
        self.distance = loss.get("distance") if loss.get("distance") in ("euclidean", "cosine") else "euclidean"
        self.start_epoch()

    def start_epoch(self) -> None:
        self.counts = np.zeros(3, dtype=np.int64)
        self.zero, self.samples = 0, 0

    def observe(self, embeddings: torch.Tensor, labels: torch.Tensor, per_sample: np.ndarray | None) -> None:
        """One training batch, with the loss's per-sample values when it gives them (else None)."""
        with torch.no_grad():
            self.counts += triplet_counts(embeddings.detach().float(), labels.detach(), self.margin, self.distance)
        if per_sample is not None and np.isfinite(per_sample).all():
            self.zero += int((per_sample == 0).sum())
            self.samples += len(per_sample)

    def record(self) -> dict[str, float]:
        total = int(self.counts.sum())
        out: dict[str, float] = {}
        if total:
            easy, semihard, hard = (round(float(c) / total, 6) for c in self.counts)
            out.update(easy_triplets=easy, semihard_triplets=semihard, hard_triplets=hard)
        if self.samples:
            out["zero_loss_samples"] = round(self.zero / self.samples, 6)
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
