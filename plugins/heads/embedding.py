"""A linear embedding head, optionally L2-normalised."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import ConfigError, hookimpl


def check_size(name: str, value, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"head {who!r}: {name} must be a positive int but got {value!r}")
    return value


class EmbeddingHead(nn.Module):
    """Linear in_dim → dim; with `normalize`, embeddings lie on the unit sphere."""

    code_kind = "float"

    def __init__(self, dim: int = 128, normalize: bool = True, in_dim: int | None = None):
        super().__init__()
        in_dim = check_size("in_dim", in_dim, "embedding")
        self.out_dim = check_size("dim", dim, "embedding")
        self.normalize = bool(normalize)
        self.linear = nn.Linear(in_dim, self.out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = self.linear(features)
        return F.normalize(z, dim=1) if self.normalize else z

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        return self.forward(features)


@hookimpl
def register_heads(register):
    register("embedding", EmbeddingHead, description="Linear embedding, optionally L2-normalised")
