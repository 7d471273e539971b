"""``small-cnn``: a few conv blocks for tiny images (8×8 digits upwards) that trains fast on a CPU."""

from __future__ import annotations

import torch
from torch import nn

from harness import ConfigError, hookimpl


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """``stages`` stages of two 3×3 conv blocks; width doubles and resolution halves per stage.

    Halving stops at 2×2 so that 8×8 inputs keep some spatial layout; a global average pool and a
    linear layer give ``out_dim`` features.
    """

    def __init__(self, width: int = 32, stages: int = 3, out_dim: int = 128, dropout: float = 0.0):
        super().__init__()
        if width < 1 or stages < 1 or out_dim < 1:
            raise ConfigError(
                f"backbone small-cnn needs positive width, stages and out_dim but got {width}, {stages}, {out_dim}"
            )
        channels = [3] + [width * 2**i for i in range(stages)]
        self.stages = nn.ModuleList(
            nn.Sequential(_block(channels[i], channels[i + 1]), _block(channels[i + 1], channels[i + 1]))
            for i in range(stages)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels[-1], out_dim)
        self.out_dim = out_dim
        self.feature_channels = channels[-1]

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Feature maps ``(B, feature_channels, h, w)`` before the pooling, for a ``pooling`` section."""
        x = images
        for i, stage in enumerate(self.stages):
            if i and min(x.shape[-2:]) >= 4:
                x = nn.functional.max_pool2d(x, 2)
            x = stage(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(self.forward_features(images)).flatten(1)))


def small_cnn(width: int = 32, stages: int = 3, out_dim: int = 128, dropout: float = 0.0) -> SmallCNN:
    """A small CNN for tiny images, fast on CPUs."""
    return SmallCNN(width=width, stages=stages, out_dim=out_dim, dropout=dropout)


@hookimpl
def register_backbones(register):
    register("small-cnn", small_cnn, description="A small CNN for tiny images, fast on CPUs")
