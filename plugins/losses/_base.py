"""Batch checks and distances shared by the built-in losses (a helper module: it registers nothing).

Setting checks are harness's (``check_non_negative``, ``check_choice``, ...), shared by every component.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

_SQRT_EPS = 1e-12  # keeps sqrt's gradient finite where a distance is zero (an item with itself)


def check_batch(embeddings: torch.Tensor, labels: Any) -> torch.Tensor:
    """Labels as a long tensor on the embeddings' device, after checking the shapes agree."""
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be (batch, dim) but got shape {tuple(embeddings.shape)}")
    labels = torch.as_tensor(labels, device=embeddings.device).long().reshape(-1)
    if labels.numel() != embeddings.shape[0]:
        raise ValueError(f"{labels.numel()} labels for {embeddings.shape[0]} embeddings")
    return labels


def squared_euclidean(x: torch.Tensor) -> torch.Tensor:
    """(B, B) squared distances without the (B, B, D) difference tensor."""
    sq = (x * x).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0)


def pairwise_distances(x: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """(B, B) euclidean distances, or cosine distances 1 - cos."""
    if metric == "cosine":
        x = F.normalize(x, dim=1)
        return 1.0 - x @ x.T
    return squared_euclidean(x).clamp_min(_SQRT_EPS).sqrt()


def mean_or_zero(values: torch.Tensor, active_only: bool) -> torch.Tensor:
    """Mean over all values, or over the non-zero ones; 0 (still in the graph) when there are none."""
    if active_only:
        values = values[values > 0]
    return values.mean() if values.numel() else values.sum()
