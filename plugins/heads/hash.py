"""HashNet's hash layer: tanh(β·z) relaxed codes whose β grows by continuation (Cao et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn

from harness import ConfigError, hookimpl
from plugins.heads.embedding import check_size

SCHEDULES = ("power", "step", "constant")


class HashHead(nn.Module):
    """Linear in_dim → bits, then tanh(β·z) for training and sign(z) ∈ {−1, +1} for indexing.

    β at the start of epoch e (counted from 0):
    - power:    beta0 · (1 + gamma·e) ** power     (HashNet's schedule, counted in epochs)
    - step:     beta0 · beta_growth ** (e // step_every)
    - constant: beta0
    """

    code_kind = "binary"

    def __init__(
        self,
        bits: int = 48,
        beta0: float = 1.0,
        schedule: str = "power",
        gamma: float = 1.0,
        power: float = 0.5,
        beta_growth: float = 2.0,
        step_every: int = 5,
        in_dim: int | None = None,
    ):
        super().__init__()
        in_dim = check_size("in_dim", in_dim, "hash")
        self.out_dim = check_size("bits", bits, "hash")
        self.step_every = check_size("step_every", step_every, "hash")
        if schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))} but got {schedule!r}")
        if beta0 <= 0:
            raise ConfigError(f"beta0 must be positive but got {beta0!r}")
        if gamma < 0 or power < 0:
            raise ConfigError(f"gamma and power cannot be negative but got gamma={gamma!r}, power={power!r}")
        if beta_growth < 1:
            raise ConfigError(f"beta_growth must be at least 1 (β only grows) but got {beta_growth!r}")
        self.schedule, self.beta0, self.gamma, self.power = schedule, float(beta0), float(gamma), float(power)
        self.beta_growth = float(beta_growth)
        self.linear = nn.Linear(in_dim, self.out_dim)
        self.beta = self.beta_at(0)

    def beta_at(self, epoch: int) -> float:
        if self.schedule == "power":
            return self.beta0 * (1.0 + self.gamma * epoch) ** self.power
        if self.schedule == "step":
            return self.beta0 * self.beta_growth ** (epoch // self.step_every)
        return self.beta0

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.beta = self.beta_at(epoch)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.beta * self.linear(features))

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        z = self.linear(features)
        return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)  # sign(0) would be 0: not a binary code


@hookimpl
def register_heads(register):
    register("hash", HashHead, description="HashNet hash layer: tanh(β·z) with β continuation, sign() codes")
