"""Backbone, optional pooling and head as one module: ``forward`` for training, ``embed`` for what gets indexed."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.components import create_backbone, create_head, create_pooling
from harness.errors import ConfigError
from harness.hookspecs import CodeKind, Encoder, FeatureMaps


class RetrievalModel(nn.Module):
    """Images ``(B, 3, H, W)`` -> backbone features -> head embeddings (or relaxed codes).

    With a ``pooling``, the backbone's feature maps go through it instead of the backbone's own pooling.
    Without one (configs that have no ``pooling`` section) the module and its state dict are as before.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, pooling: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        if pooling is not None:
            self.pooling = pooling
        self.head = head

    def features(self, images: torch.Tensor) -> torch.Tensor:
        pooling = getattr(self, "pooling", None)
        if pooling is None:
            return self.backbone(images)
        return pooling(self.backbone.forward_features(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """What the indexer receives: ``head.encode`` (exactly ±1 for a hash head) when it has one."""
        features = self.features(images)
        return self.head.encode(features) if isinstance(self.head, Encoder) else self.head(features)

    @property
    def out_dim(self) -> int:
        return int(getattr(self.head, "out_dim", 0) or self.backbone.out_dim)

    @property
    def code_kind(self) -> str:
        return self.head.code_kind if isinstance(self.head, CodeKind) else "float"


def settings(components: dict[str, Any], section: str) -> tuple[str, dict[str, Any]]:
    """A component section of ``components`` (``RunConfig.components``) as ``(name, settings)``."""
    values = dict(components[section])
    return values.pop("name"), values


def build_model(components: dict[str, Any], num_classes: int, device: torch.device) -> RetrievalModel:
    """The backbone, optional pooling and head of ``components`` (``RunConfig.components``)."""
    cfg = components
    backbone_name, backbone_cfg = settings(cfg, "backbone")
    backbone = create_backbone(backbone_name, num_classes=num_classes, device=str(device), **backbone_cfg)
    pooling, features_dim = None, int(backbone.out_dim)
    if cfg.get("pooling"):
        pooling_name, pooling_cfg = settings(cfg, "pooling")
        if not isinstance(backbone, FeatureMaps):
            raise ConfigError(
                f"pooling {pooling_name!r} needs a backbone that gives feature maps, and {backbone_name!r} does not; "
                "drop the pooling section or pick another backbone"
            )
        channels = int(backbone.feature_channels)
        pooling = create_pooling(
            pooling_name, in_dim=channels, num_classes=num_classes, device=str(device), **pooling_cfg
        )
        features_dim = int(pooling.out_dim)
    head_name, head_cfg = settings(cfg, "head")
    head = create_head(head_name, in_dim=features_dim, num_classes=num_classes, device=str(device), **head_cfg)
    return RetrievalModel(backbone, head, pooling)


def describe_backbone(components: dict[str, Any]) -> str:
    """How a leaderboard row names the backbone: ``small-cnn`` or ``timm:resnet18``."""
    name, values = settings(components, "backbone")
    model = values.get("model")
    return f"{name}:{model}" if model else name
