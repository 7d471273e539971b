"""Contrastive loss of Hadsell, Chopra and LeCun (2006) over every pair in the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import hookimpl
from plugins.losses._base import _SQRT_EPS, check_batch, non_negative, squared_euclidean


class ContrastiveLoss(nn.Module):
    """Mean over pairs i < j of d² (same label) or max(0, margin - d)² (different labels).

    d is the euclidean distance, between L2-normalised embeddings when `normalize` is set.
    """

    def __init__(self, margin: float = 1.0, normalize: bool = False):
        super().__init__()
        self.margin = non_negative("margin", margin)
        self.normalize = bool(normalize)

    def forward(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        labels = check_batch(embeddings, labels)
        x = F.normalize(embeddings, dim=1) if self.normalize else embeddings
        d2 = squared_euclidean(x)
        d = d2.clamp_min(_SQRT_EPS).sqrt()
        same = labels[:, None] == labels[None, :]
        per_pair = torch.where(same, d2, F.relu(self.margin - d) ** 2)
        upper = torch.ones_like(same).triu(diagonal=1)
        return per_pair[upper].mean() if upper.any() else per_pair.sum() * 0


@hookimpl
def register_losses(register):
    register(
        "contrastive",
        ContrastiveLoss,
        description="Contrastive loss (Hadsell et al. 2006) over all pairs",
        in_batch=True,
    )
