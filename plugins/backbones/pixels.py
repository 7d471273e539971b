"""``pixels``: no learning at all, the (downsized) image itself as its feature vector: the floor of every board."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import ConfigError, hookimpl


class Pixels(nn.Module):
    """Images resized to ``size`` × ``size`` (area averaging down, nearest-neighbour up), then flattened.

    Nearest-neighbour upsampling by a whole factor repeats each pixel equally often, so cosine similarities
    are exactly those of the original pixels. It has no parameters: with the ``identity`` head and
    ``train.epochs=0`` a run scores raw pixels. As feature maps it gives the resized image (3 channels).
    """

    def __init__(self, size: int = 32):
        super().__init__()
        if isinstance(size, bool) or size < 1:
            raise ConfigError(f"backbone pixels needs a positive size but got {size!r}")
        self.size = int(size)
        self.feature_channels = 3
        self.out_dim = 3 * self.size * self.size

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) == (self.size, self.size):
            return images
        mode = "area" if min(images.shape[-2:]) > self.size else "nearest-exact"
        return F.interpolate(images, size=(self.size, self.size), mode=mode)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_features(images).flatten(1)


def pixels(size: int = 32) -> Pixels:
    """The image itself, resized to ``size`` × ``size`` and flattened."""
    return Pixels(size=size)


@hookimpl
def register_backbones(register):
    register("pixels", pixels, description="No learning: the downsized image itself (the raw-pixel floor)")
