"""Contrastive loss of Hadsell, Chopra and LeCun (2006) over the pairs of a batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import ConfigError, check_choice, check_non_negative, hookimpl
from plugins.losses._base import _SQRT_EPS, check_batch, squared_euclidean


class ContrastiveLoss(nn.Module):
    """Mean over the scored pairs of d² (same label) or max(0, margin - d)² (different labels).

    d is the euclidean distance, between L2-normalised embeddings when `normalize` is set.
    `pairs="all"` scores every pair i < j of the batch; `pairs="adjacent"` only (0, 1), (2, 3), ...,
    the pairs a pair sampler (`pair-ratio`) lays side by side.
    """

    def __init__(self, margin: float = 1.0, normalize: bool = False, pairs: str = "all"):
        super().__init__()
        self.margin = check_non_negative("margin", margin)
        self.normalize = bool(normalize)
        self.pairs = check_choice("pairs", pairs, ("all", "adjacent"))

    def pair_losses(self, embeddings: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, B)`` loss of every pair and the mask of the scored pairs (each counted once)."""
        labels = check_batch(embeddings, labels)
        x = F.normalize(embeddings, dim=1) if self.normalize else embeddings
        d2 = squared_euclidean(x)
        d = d2.clamp_min(_SQRT_EPS).sqrt()
        same = labels[:, None] == labels[None, :]
        per_pair = torch.where(same, d2, F.relu(self.margin - d) ** 2)
        batch = len(labels)
        if self.pairs == "all":
            scored = torch.ones_like(same).triu(diagonal=1)
        else:
            if batch % 2:
                raise ConfigError(f"loss.pairs=adjacent needs an even batch but got {batch} embeddings")
            scored = torch.zeros_like(same)
            first = torch.arange(0, batch, 2, device=same.device)
            scored[first, first + 1] = True
        return per_pair, scored

    def forward(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        per_pair, scored = self.pair_losses(embeddings, labels)
        return per_pair[scored].mean() if scored.any() else per_pair.sum() * 0

    def per_sample(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        """Half of each scored pair's loss to each of its two items; the mean equals ``forward``."""
        per_pair, scored = self.pair_losses(embeddings, labels)
        batch = per_pair.shape[0]
        if not scored.any():
            return per_pair.sum() * 0 + per_pair.new_zeros(batch)
        kept = per_pair * scored.to(per_pair.dtype)
        return (kept.sum(0) + kept.sum(1)) / 2 / scored.sum() * batch


@hookimpl
def register_losses(register):
    register(
        "contrastive",
        ContrastiveLoss,
        description="Contrastive loss (Hadsell et al. 2006) over pairs",
        in_batch=True,
    )
