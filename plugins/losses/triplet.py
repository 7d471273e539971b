"""Triplet margin loss with in-batch mining (all, batch-hard or semi-hard triplets)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import check_choice, check_non_negative, hookimpl
from plugins.losses._base import check_batch, mean_or_zero, pairwise_distances

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
        self.margin = check_non_negative("margin", margin)
        self.mining = check_choice("mining", mining, ("all", "hard", "semihard"))
        self.distance = check_choice("distance", distance, ("euclidean", "cosine"))
        self.average = check_choice("average", average, ("active", "all"))

    def triplets(self, embeddings: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """The selected triplets as ``(T, 3)`` batch positions (anchor, positive, negative) and their losses."""
        labels = check_batch(embeddings, labels)
        d = pairwise_distances(embeddings, self.distance)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=d.device)
        pos, neg = same & ~eye, ~same
        if self.mining == "all":
            chosen = (pos[:, :, None] & neg[:, None, :]).nonzero()
        elif self.mining == "hard":
            anchors = (pos.any(1) & neg.any(1)).nonzero().squeeze(1)
            hardest_pos = d.masked_fill(~pos, -INF).argmax(1)
            hardest_neg = d.masked_fill(~neg, INF).argmin(1)
            chosen = torch.stack([anchors, hardest_pos[anchors], hardest_neg[anchors]], 1)
        else:
            farther = neg[:, None, :] & (d[:, None, :] > d[:, :, None])  # [a, p, n]
            nearest_farther = d[:, None, :].masked_fill(~farther, INF).argmin(2)
            farthest = d.masked_fill(~neg, -INF).argmax(1, keepdim=True).expand_as(nearest_farther)
            negative = torch.where(farther.any(2), nearest_farther, farthest)
            pairs = (pos & neg.any(1, keepdim=True)).nonzero()
            chosen = torch.cat([pairs, negative[pairs[:, 0], pairs[:, 1]][:, None]], 1)
        a, p, n = chosen.unbind(1)
        return chosen, F.relu(d[a, p] - d[a, n] + self.margin)

    def forward(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        _, losses = self.triplets(embeddings, labels)
        return mean_or_zero(losses, self.average == "active")

    def per_sample(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        """Each triplet's loss shared equally by its anchor, positive and negative; the mean equals ``forward``."""
        chosen, losses = self.triplets(embeddings, labels)
        count = (losses > 0).sum() if self.average == "active" else torch.tensor(losses.numel())
        batch = embeddings.shape[0]
        share = (losses / count.clamp_min(1) * batch / 3.0)[:, None].expand(-1, 3)
        per_item = embeddings.new_zeros(batch).index_add(0, chosen.reshape(-1), share.reshape(-1))
        return per_item + 0.0 * embeddings.sum()  # stays in the graph when no triplet was selected


@hookimpl
def register_losses(register):
    register(
        "triplet",
        TripletLoss,
        description="Triplet margin loss with all / batch-hard / semi-hard mining",
        in_batch=True,
    )
