"""NetVLAD (Arandjelović et al. 2016): soft-assigned residuals to learnt cluster centres."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import ConfigError, hookimpl
from plugins.poolings._base import channels


class NetVLADPooling(nn.Module):
    """V[k] = Σ_positions a_k(x) (x − c_k), a = softmax over k of a 1×1 convolution of the L2-normalised
    descriptors; each V[k] is L2-normalised (intra-normalisation), then the flattened (K·C) vector.
    """

    def __init__(self, clusters: int = 16, alpha: float = 10.0, in_dim: int | None = None):
        super().__init__()
        dim = channels(in_dim, "netvlad")
        if isinstance(clusters, bool) or clusters < 1:
            raise ConfigError(f"pooling netvlad needs clusters >= 1 but got {clusters!r}")
        if alpha <= 0:
            raise ConfigError(f"pooling netvlad needs a positive alpha but got {alpha!r}")
        self.out_dim = int(clusters) * dim
        self.centres = nn.Parameter(F.normalize(torch.randn(clusters, dim), dim=1))
        # Initialised as the paper's decomposition: w_k = 2α c_k, b_k = −α ‖c_k‖², here with unit centres.
        self.assign = nn.Conv2d(dim, clusters, kernel_size=1)
        with torch.no_grad():
            self.assign.weight.copy_(2.0 * alpha * self.centres.detach()[:, :, None, None])
            self.assign.bias.fill_(-alpha)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        x = F.normalize(maps, dim=1)
        weights = F.softmax(self.assign(x), dim=1).flatten(2)  # (B, K, hw)
        descriptors = x.flatten(2)  # (B, C, hw)
        weighted = torch.einsum("bkn,bcn->bkc", weights, descriptors)
        vlad = weighted - weights.sum(2)[:, :, None] * self.centres[None]
        vlad = F.normalize(vlad, dim=2)
        return F.normalize(vlad.flatten(1), dim=1)


@hookimpl
def register_poolings(register):
    register("netvlad", NetVLADPooling, description="NetVLAD: soft-assigned residual aggregation (Arandjelović 2016)")
