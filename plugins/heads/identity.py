"""``identity``: features pass through unchanged (the ``pixels`` floor, or a backbone's own features)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness import hookimpl
from plugins.heads.embedding import check_size


class IdentityHead(nn.Module):
    """No parameters: the embedding is the feature vector, L2-normalised when `normalize` is set."""

    code_kind = "float"

    def __init__(self, normalize: bool = False, in_dim: int | None = None):
        super().__init__()
        self.out_dim = check_size("in_dim", in_dim, "identity")
        self.normalize = bool(normalize)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(features, dim=1) if self.normalize else features


@hookimpl
def register_heads(register):
    register("identity", IdentityHead, description="No head: the features themselves (optionally L2-normalised)")
