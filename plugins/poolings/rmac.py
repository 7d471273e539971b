"""R-MAC (Tolias, Sicre and Jégou 2016): max-pooled regions at several scales, normalised and summed."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from harness import ConfigError, hookimpl
from plugins.poolings._base import channels

OVERLAP = 0.4  # the paper's target overlap between neighbouring regions


def regions(height: int, width: int, levels: int) -> list[tuple[int, int, int]]:
    """``(top, left, side)`` of the square regions: at level l, l regions (plus extra ones along the
    longer side) of side 2·min(H, W)/(l + 1), placed uniformly with about 40% overlap."""
    short, long_side = min(height, width), max(height, width)
    extra = 0
    if long_side > short:  # how many more regions the longer side needs to keep the overlap near 40%
        steps = torch.arange(2, 8, dtype=torch.float64)
        shift = (long_side - short) / (steps - 1)
        extra = int(torch.argmin(((short**2 - short * shift) / short**2 - OVERLAP).abs())) + 1
    extra_h, extra_w = (extra, 0) if height > width else (0, extra)
    out = []
    for level in range(1, levels + 1):
        side = max(1, math.floor(2 * short / (level + 1)))
        tops = _starts(height, side, level + extra_h)
        lefts = _starts(width, side, level + extra_w)
        out += [(top, left, side) for top in tops for left in lefts]
    return out


def _starts(length: int, side: int, count: int) -> list[int]:
    """``count`` evenly spaced starts of a window of ``side`` along ``length``; a repeated start counts once."""
    if count <= 1:
        return [0]
    step = (length - side) / (count - 1)
    return sorted({round(i * step) for i in range(count)})


class RMACPooling(nn.Module):
    """Σ over regions of L2-normalised region MACs, L2-normalised (the paper's PCA-whitening is left out)."""

    def __init__(self, levels: int = 3, in_dim: int | None = None):
        super().__init__()
        self.out_dim = channels(in_dim, "rmac")
        if isinstance(levels, bool) or levels < 1:
            raise ConfigError(f"pooling rmac needs levels >= 1 but got {levels!r}")
        self.levels = int(levels)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(maps.shape[:2], dtype=maps.dtype, device=maps.device)
        for top, left, side in regions(maps.shape[2], maps.shape[3], self.levels):
            region = maps[:, :, top : top + side, left : left + side]
            total = total + F.normalize(region.amax(dim=(2, 3)), dim=1)
        return F.normalize(total, dim=1)


@hookimpl
def register_poolings(register):
    register("rmac", RMACPooling, description="R-MAC: regional max pooling at several scales (Tolias et al. 2016)")
