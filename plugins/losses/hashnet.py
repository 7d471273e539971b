"""HashNet's weighted pairwise likelihood (Cao et al. 2017) over relaxed codes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import check_non_negative, hookimpl
from plugins.losses._base import check_batch


class HashNetLoss(nn.Module):
    """Σ_{i≠j} w_ij (log(1 + exp(α⟨h_i,h_j⟩)) − s_ij α⟨h_i,h_j⟩) / |S| over ordered pairs i ≠ j.

    s_ij = 1 for equal labels. With `balance`, w_ij = |S|/|S1| for similar and |S|/|S0| for
    dissimilar pairs, so each side weighs as much as the other; otherwise w_ij = 1.
    `alpha = 0.0` means 10 / bits, the default of HashNet's released code.
    Pair with the `hash` head, whose tanh(β·z) continuation makes the codes binary.
    """

    def __init__(self, alpha: float = 0.0, balance: bool = True):
        super().__init__()
        self.alpha = check_non_negative("alpha", alpha)
        self.balance = bool(balance)

    def forward(self, codes: torch.Tensor, labels) -> torch.Tensor:
        weighted, pairs = self.weighted_pairs(codes, labels)
        return weighted[pairs].sum() / pairs.sum().clamp_min(1)

    def per_sample(self, codes: torch.Tensor, labels) -> torch.Tensor:
        """Item i's row of weighted pair terms Σ_j w_ij ℓ_ij, scaled so that the mean equals ``forward``."""
        weighted, pairs = self.weighted_pairs(codes, labels)
        rows = (weighted * pairs.to(weighted.dtype)).sum(1)
        return rows * len(rows) / pairs.sum().clamp_min(1)

    def weighted_pairs(self, codes: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, B)`` terms w_ij (softplus(α⟨h_i,h_j⟩) − s_ij α⟨h_i,h_j⟩) and the mask of pairs i ≠ j."""
        labels = check_batch(codes, labels)
        alpha = self.alpha or 10.0 / codes.shape[1]
        inner = alpha * codes @ codes.T
        same = labels[:, None] == labels[None, :]
        pairs = ~torch.eye(len(labels), dtype=torch.bool, device=codes.device)
        nll = F.softplus(inner) - same.to(inner.dtype) * inner  # softplus is log(1 + exp) without overflow
        total = pairs.sum()
        if self.balance:
            n_similar = (same & pairs).sum().clamp_min(1)
            n_dissimilar = (~same).sum().clamp_min(1)
            nll = nll * torch.where(same, total / n_similar, total / n_dissimilar).to(nll.dtype)
        return nll, pairs


@hookimpl
def register_losses(register):
    register(
        "hashnet", HashNetLoss, description="HashNet weighted pairwise likelihood (Cao et al. 2017)", in_batch=True
    )
