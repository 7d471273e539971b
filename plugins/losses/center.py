"""Softmax cross-entropy plus center loss (Wen et al. 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import check_context, check_non_negative, check_positive, hookimpl
from plugins.losses._base import check_batch


class CenterLoss(nn.Module):
    """cross_entropy(W x + b, y) + center_weight · mean_i ½‖x_i − c_{y_i}‖².

    The class centers are a parameter. `lr = center_lr` asks the trainer for a learning rate of
    its own for this module (the centers and the classifier inside it).
    """

    def __init__(
        self,
        center_weight: float = 0.01,
        center_lr: float = 0.01,
        num_classes: int | None = None,
        in_dim: int | None = None,
    ):
        super().__init__()
        num_classes = check_context("num_classes", num_classes, "loss 'center'")
        in_dim = check_context("in_dim", in_dim, "loss 'center'")
        self.center_weight = check_non_negative("center_weight", center_weight)
        self.lr = check_positive("center_lr", center_lr)
        self.classifier = nn.Linear(in_dim, num_classes)
        # unit-scale centers, like the (often normalised) embeddings they are pulled toward
        self.centers = nn.Parameter(torch.randn(num_classes, in_dim) / in_dim**0.5)

    def forward(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        return self.per_sample(embeddings, labels).mean()

    def per_sample(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        """Each sample's cross-entropy plus its weighted pull toward its class center."""
        labels = check_batch(embeddings, labels)
        classification = F.cross_entropy(self.classifier(embeddings), labels, reduction="none")
        pull = 0.5 * (embeddings - self.centers[labels]).pow(2).sum(1)
        return classification + self.center_weight * pull


@hookimpl
def register_losses(register):
    register("center", CenterLoss, description="Softmax cross-entropy plus center loss (Wen et al. 2016)")
