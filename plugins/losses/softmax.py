"""Softmax classification loss: the baseline, and the auxiliary term of multi-task training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import ConfigError, check_context, check_positive, hookimpl
from plugins.losses._base import check_batch


class SoftmaxLoss(nn.Module):
    """cross_entropy(logits / temperature, y) with a linear classifier from in_dim to num_classes.

    With `normalize`, logits are cosines between L2-normalised embeddings and class weights
    (no bias); pair it with a small temperature such as 0.05.
    """

    def __init__(
        self,
        temperature: float = 1.0,
        normalize: bool = False,
        label_smoothing: float = 0.0,
        num_classes: int | None = None,
        in_dim: int | None = None,
    ):
        super().__init__()
        num_classes = check_context("num_classes", num_classes, "loss 'softmax'")
        in_dim = check_context("in_dim", in_dim, "loss 'softmax'")
        self.temperature = check_positive("temperature", temperature)
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1) but got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.normalize = bool(normalize)
        self.classifier = nn.Linear(in_dim, num_classes, bias=not self.normalize)

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            cosine = F.linear(F.normalize(embeddings, dim=1), F.normalize(self.classifier.weight, dim=1))
            return cosine / self.temperature
        return self.classifier(embeddings) / self.temperature

    def forward(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        labels = check_batch(embeddings, labels)
        return F.cross_entropy(self.logits(embeddings), labels, label_smoothing=self.label_smoothing)

    def per_sample(self, embeddings: torch.Tensor, labels) -> torch.Tensor:
        """Each sample's cross-entropy; the mean equals ``forward``."""
        labels = check_batch(embeddings, labels)
        logits = self.logits(embeddings)
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing, reduction="none")


@hookimpl
def register_losses(register):
    register("softmax", SoftmaxLoss, description="Softmax cross-entropy with a linear classifier (baseline)")
