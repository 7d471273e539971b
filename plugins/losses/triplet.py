"""Triplet margin loss with in-batch mining (all, batch-hard or semi-hard triplets)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import hookimpl
from plugins.losses._base import check_batch, mean_or_zero, non_negative, one_of, pairwise_distances

INF = float("inf")


class TripletLoss(nn.Module):
    """max(0, d(a,p) - d(a,n) + margin) over the triplets that `mining` selects in the batch.

    - all: every (a, p, n) with a != p, label(a) == label(p) != label(n).
    - hard: per anchor, its farthest positive and nearest negative (Hermans et al. 2017).
    - semihard: per (a, p), the nearest negative farther than p; when there is none, the
      farthest negative (FaceNet's rule as TensorFlow Addons implements it).
    `average="active"` averages over the triplets with a non-zero loss, "all" over every selected one.
    """

    def __init__(self, margin: float = 0.2, mining: str = "all", distance: str = "euclidean", average: str = "active"):
        super().__init__()
        self.margin = non_negative("margin", margin)
        self.mining = one_of("mining", mining, ("all", "hard", "semihard"))
        self.distance = one_of("distance", distance, ("euclidean", "cosine"))
        self.average = one_of("average", average, ("active", "all"))

    def forward(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        labels = check_batch(embeddings, labels)
        d = pairwise_distances(embeddings, self.distance)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=d.device)
        pos, neg = same & ~eye, ~same
        if self.mining == "hard":
            hardest_pos = d.masked_fill(~pos, -INF).amax(1)
            hardest_neg = d.masked_fill(~neg, INF).amin(1)
            losses = F.relu(hardest_pos - hardest_neg + self.margin)[pos.any(1) & neg.any(1)]
        elif self.mining == "all":
            losses = F.relu(d[:, :, None] - d[:, None, :] + self.margin)[pos[:, :, None] & neg[:, None, :]]
        else:
            farther = neg[:, None, :] & (d[:, None, :] > d[:, :, None])  # [a, p, n]
            nearest_farther = d[:, None, :].masked_fill(~farther, INF).amin(2)
            farthest = d.masked_fill(~neg, -INF).amax(1, keepdim=True)
            chosen = torch.where(farther.any(2), nearest_farther, farthest)
            losses = F.relu(d - chosen + self.margin)[pos & neg.any(1, keepdim=True)]
        return mean_or_zero(losses, self.average == "active")


@hookimpl
def register_losses(register):
    register(
        "triplet",
        TripletLoss,
        description="Triplet margin loss with all / batch-hard / semi-hard mining",
        in_batch=True,
    )
