"""pytorch-metric-learning's losses with their miners: the field's reference recipes, on bench's backbone.

``pml-triplet`` (TripletMarginLoss + TripletMarginMiner), ``pml-multi-similarity`` (MultiSimilarityLoss +
MultiSimilarityMiner) and ``pml-contrastive`` (ContrastiveLoss + PairMarginMiner), each with PML's
documented defaults. pytorch-metric-learning is optional (``pip install 'bench[pml]'``); it is imported
when one of these losses is built, and its absence is one clear error.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from harness import ConfigError, check_choice, check_non_negative, check_positive, hookimpl
from plugins.losses._base import check_batch

INSTALL = "pip install 'bench[pml]' (or pytorch-metric-learning)"


def pml(module: str) -> Any:
    """``pytorch_metric_learning.<module>``, or a ConfigError that says how to install it."""
    try:
        return importlib.import_module(f"pytorch_metric_learning.{module}")
    except ImportError:
        raise ConfigError(f"the pml-* losses and samplers need pytorch-metric-learning: {INSTALL}") from None


def pml_distance(name: str) -> Any:
    """PML's distance object: cosine similarity or Euclidean (both on L2-normalised embeddings, PML's default)."""
    distances = pml("distances")
    check_choice("distance", name, ("cosine", "euclidean"))
    return distances.CosineSimilarity() if name == "cosine" else distances.LpDistance(p=2, power=1)


class MinedLoss(nn.Module):
    """A PML loss fed the tuples its miner picks from the batch."""

    def __init__(self, loss: nn.Module, miner: Any = None):
        super().__init__()
        self.loss, self.miner = loss, miner

    def forward(self, embeddings, labels):
        labels = check_batch(embeddings, labels)
        tuples = self.miner(embeddings, labels) if self.miner is not None else None
        return self.loss(embeddings, labels, tuples)


class PMLTriplet(MinedLoss):
    """TripletMarginLoss(margin, distance) on the triplets TripletMarginMiner(margin, mining) picks."""

    def __init__(self, margin: float = 0.2, distance: str = "cosine", mining: str = "semihard"):
        losses, miners = pml("losses"), pml("miners")
        margin = check_non_negative("margin", margin)
        check_choice("mining", mining, ("all", "hard", "semihard", "easy"))
        super().__init__(
            losses.TripletMarginLoss(margin=margin, distance=pml_distance(distance)),
            miners.TripletMarginMiner(margin=margin, distance=pml_distance(distance), type_of_triplets=mining),
        )


class PMLMultiSimilarity(MinedLoss):
    """MultiSimilarityLoss(alpha, beta, base) on the pairs MultiSimilarityMiner(epsilon) picks (Wang et al. 2019)."""

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float = 0.1):
        losses, miners = pml("losses"), pml("miners")
        super().__init__(
            losses.MultiSimilarityLoss(
                alpha=check_positive("alpha", alpha), beta=check_positive("beta", beta), base=base
            ),
            miners.MultiSimilarityMiner(epsilon=check_non_negative("epsilon", epsilon)),
        )


class PMLContrastive(MinedLoss):
    """ContrastiveLoss(pos_margin, neg_margin) on Euclidean distances of normalised embeddings, every pair."""

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0):
        losses = pml("losses")
        super().__init__(
            losses.ContrastiveLoss(
                pos_margin=check_non_negative("pos_margin", pos_margin),
                neg_margin=check_non_negative("neg_margin", neg_margin),
            )
        )


@hookimpl
def register_losses(register):
    register("pml-triplet", PMLTriplet, description="pytorch-metric-learning triplet loss + miner", in_batch=True)
    register(
        "pml-multi-similarity",
        PMLMultiSimilarity,
        description="pytorch-metric-learning multi-similarity loss + miner",
        in_batch=True,
    )
    register("pml-contrastive", PMLContrastive, description="pytorch-metric-learning contrastive loss", in_batch=True)
