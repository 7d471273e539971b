"""Global poolings: average, max (MAC, Tolias et al. 2016) and generalised mean (GeM, Radenović et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn

from harness import ConfigError, hookimpl
from plugins.poolings._base import channels


class AveragePooling(nn.Module):
    """Mean over all positions of each channel (what ResNets and small-cnn do by default)."""

    def __init__(self, in_dim: int | None = None):
        super().__init__()
        self.out_dim = channels(in_dim, "avg")

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.mean(dim=(2, 3))


class MaxPooling(nn.Module):
    """MAC: the maximum activation of each channel over all positions."""

    def __init__(self, in_dim: int | None = None):
        super().__init__()
        self.out_dim = channels(in_dim, "max")

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.amax(dim=(2, 3))


class GeMPooling(nn.Module):
    """GeM: (mean over positions of max(x, eps)^p)^(1/p); p = 1 is average, p -> inf is max.

    With `learnable`, p is a parameter trained with the head (one p shared by all channels).
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = True, in_dim: int | None = None):
        super().__init__()
        self.out_dim = channels(in_dim, "gem")
        if p < 1:
            raise ConfigError(f"pooling gem needs p >= 1 but got {p!r}")
        if eps <= 0:
            raise ConfigError(f"pooling gem needs a positive eps but got {eps!r}")
        self.eps = float(eps)
        initial = torch.tensor([float(p)])
        if learnable:
            self.p = nn.Parameter(initial)
        else:
            self.register_buffer("p", initial)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        p = self.p.clamp_min(1.0)  # a trained p below 1 would no longer be a mean of powers
        return maps.clamp_min(self.eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


@hookimpl
def register_poolings(register):
    register("avg", AveragePooling, description="Global average pooling")
    register("max", MaxPooling, description="Global max pooling (MAC, Tolias et al. 2016)")
    register("gem", GeMPooling, description="Generalised mean pooling with a learnable p (Radenović et al. 2018)")
