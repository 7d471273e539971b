"""The peer-recipe plugins: pytorch-metric-learning's losses, miners and sampler behind bench's interfaces."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from harness.components import create_loss, create_sampler
from harness.errors import ConfigError

pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
from pytorch_metric_learning import distances, miners  # noqa: E402


def batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(16, 8, generator=generator), torch.arange(4).repeat_interleave(4)


def test_pml_triplet_is_the_mined_pml_loss():
    embeddings, labels = batch()
    ours = create_loss("pml-triplet", margin=0.2, distance="cosine", mining="semihard")(embeddings, labels)
    cosine = distances.CosineSimilarity()
    mined = miners.TripletMarginMiner(margin=0.2, distance=cosine, type_of_triplets="semihard")(embeddings, labels)
    expected = pml_losses.TripletMarginLoss(margin=0.2, distance=cosine)(embeddings, labels, mined)
    assert torch.allclose(ours, expected) and ours > 0


def test_pml_losses_train_the_embeddings():
    for name in ("pml-triplet", "pml-multi-similarity", "pml-contrastive"):
        embeddings, labels = batch(1)
        embeddings.requires_grad_(True)
        loss = create_loss(name)(embeddings, labels)
        loss.backward()
        assert torch.isfinite(loss) and embeddings.grad.abs().sum() > 0, name


def test_pml_loss_settings_are_checked():
    with pytest.raises(ConfigError, match="mining"):
        create_loss("pml-triplet", mining="hardest")
    with pytest.raises(ConfigError, match="distance"):
        create_loss("pml-triplet", distance="manhattan")


def test_m_per_class_batches_are_reproducible_and_hold_m_per_class():
    labels = np.repeat(np.arange(10), 30)
    sampler = create_sampler("m-per-class", labels, 32, m=4, seed=3)
    first = list(sampler)
    assert len(first) == len(sampler) == 300 // 32
    for chosen in first:
        counts = np.unique(labels[chosen], return_counts=True)[1]
        assert len(chosen) == 32 and (counts == 4).all()
    again = create_sampler("m-per-class", labels, 32, m=4, seed=3)
    assert list(again) == first  # epoch 0 again
    assert list(again) != first  # epoch 1 differs
    with pytest.raises(ConfigError, match="multiple of m"):
        create_sampler("m-per-class", labels, 30, m=4)
    few = create_sampler("m-per-class", np.repeat(np.arange(5), 20), 32, m=4)  # 5 classes cannot give 8 of 4
    assert few.m == 8 and all(
        (np.unique(np.repeat(np.arange(5), 20)[b], return_counts=True)[1] == 8).all() for b in few
    )


def test_without_pml_the_error_says_how_to_install(monkeypatch):
    for module in [name for name in sys.modules if name.startswith("pytorch_metric_learning")]:
        monkeypatch.setitem(sys.modules, module, None)  # None in sys.modules: the import fails
    with pytest.raises(ConfigError, match=r"bench\[pml\]"):
        create_loss("pml-triplet")
    with pytest.raises(ConfigError, match=r"bench\[pml\]"):
        create_sampler("m-per-class", np.repeat(np.arange(4), 8), 16)
