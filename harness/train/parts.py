"""The parts of one training run, built once: the model, its losses, the sampler, the optimizer and its
schedule, the gradient scaler and the augmentation generator (``build_parts``); ``train.loop`` runs them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from harness.components import create_loss, create_sampler, registry
from harness.config import OptimConfig, RunConfig
from harness.errors import ConfigError, TrainingError
from harness.hookspecs import EpochAware, Sampler
from harness.train import distributed
from harness.train.devices import CompiledOrEager, grad_scaler, memory_format
from harness.train.diagnostics import EpochDiagnostics
from harness.train.model import RetrievalModel, build_model

if TYPE_CHECKING:
    from harness.train.embed import ImageSet


@dataclass
class TrainingParts:
    """Everything one training step touches, built once per run."""

    model: RetrievalModel
    losses: dict[str, nn.Module]  # "loss", plus "classification" when train.classification_weight > 0
    sampler: Sampler
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR | None  # a LambdaLR, or None for a constant rate
    scaler: torch.amp.GradScaler
    generator: torch.Generator  # augmentation randomness, seeded by the run (plus the rank)
    trainer: nn.Module | None = None  # what the training step calls: the model, in DDP and/or compiled
    diagnostics: EpochDiagnostics = field(default_factory=lambda: EpochDiagnostics({}))
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # photo transforms (train.transforms)

    def epoch_aware(self) -> list[EpochAware]:
        candidates = (self.model.head, *self.losses.values(), self.sampler)
        return [part for part in candidates if isinstance(part, EpochAware)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (self.trainer if self.trainer is not None else self.model)(images)


def build_parts(cfg: RunConfig, train: ImageSet, device: torch.device) -> TrainingParts:
    """The parts of one run; with several processes (``bench run --nproc``) see ``harness.train.distributed``."""
    tc, oc, seed = cfg.train, cfg.optim, cfg.seed
    model = build_model(cfg.components, train.num_classes, device)
    model = model.to(device, memory_format=memory_format(tc.channels_last))
    require_trainable(model, cfg)
    losses = build_losses(cfg, train.num_classes, model.out_dim, device)
    losses = distributed.across_ranks(losses, lambda key: in_batch_loss(cfg, key), tc.gather_embeddings)
    sampler = distributed.shard_batches(build_sampler(cfg, train.labels))
    optimizer = build_optimizer(oc, model, losses)
    scheduler = build_scheduler(oc, optimizer, tc.epochs * max(1, len(sampler)))
    trainer = distributed.wrap_model(model, device)
    if tc.compile:
        modes = {"mode": tc.compile} if isinstance(tc.compile, str) else {}
        trainer = CompiledOrEager(trainer, **modes)
    generator = torch.Generator().manual_seed(distributed.rank_seed(seed))
    scaler = grad_scaler(device, tc.amp)
    return TrainingParts(
        model,
        losses,
        sampler,
        optimizer,
        scheduler,
        scaler,
        generator,
        trainer,
        diagnostics=EpochDiagnostics(cfg.components["loss"]),
    )


def require_trainable(model: nn.Module, cfg: RunConfig) -> None:
    """Training a model without parameters would change nothing it embeds: say so instead of failing later."""
    if not any(p.requires_grad for p in model.parameters()):
        named = cfg.components
        parts = " + ".join(f"{s} {named[s]['name']!r}" for s in ("backbone", "pooling", "head") if named.get(s))
        raise ConfigError(
            f"train.epochs={cfg.train.epochs} but the model ({parts}) has nothing to train; set train.epochs=0 "
            "or choose a backbone or head with parameters"
        )


def in_batch_loss(cfg: RunConfig, key: str) -> bool:
    """Whether the loss under ``key`` compares items within a batch (registered with ``in_batch=True``)."""
    name = cfg.components["loss"]["name"] if key == "loss" else "softmax"
    return bool(registry("losses").get(name).meta.get("in_batch"))


def build_losses(cfg: RunConfig, num_classes: int, dim: int, device: torch.device) -> dict[str, nn.Module]:
    """The method's loss, plus a softmax classification term when train.classification_weight > 0."""
    name, values = cfg.component("loss")
    losses = {"loss": create_loss(name, num_classes=num_classes, in_dim=dim, device=str(device), **values)}
    if cfg.train.classification_weight > 0:
        losses["classification"] = create_loss("softmax", num_classes=num_classes, in_dim=dim, device=str(device))
    return {key: loss.to(device) for key, loss in losses.items()}


def build_sampler(cfg: RunConfig, labels: np.ndarray) -> Sampler:
    name, values = cfg.component("sampler")
    # The run's seed drives the sampler too, unless the config pins the sampler's own seed.
    if "seed" in registry("samplers").get(name).settings() and "seed" not in values:
        values["seed"] = cfg.seed
    sampler = create_sampler(name, np.asarray(labels), cfg.train.batch_size, **values)
    if len(sampler) < 1:
        raise TrainingError(f"sampler {name!r} yields no batches for {len(labels)} training images")
    return sampler


def build_optimizer(oc: OptimConfig, model: RetrievalModel, losses: dict[str, nn.Module]) -> torch.optim.Optimizer:
    groups = [
        {"params": list(model.backbone.parameters()), "lr": oc.lr * oc.backbone_lr_scale},
        {"params": [p for name, p in model.named_parameters() if not name.startswith("backbone.")], "lr": oc.lr},
    ]
    for loss in losses.values():
        params = [p for p in loss.parameters() if p.requires_grad]
        if params:
            # Decay would pull learnable loss state (centers, proxies) towards the origin.
            groups.append({"params": params, "lr": float(getattr(loss, "lr", None) or oc.lr), "weight_decay": 0.0})
    groups = [g for g in groups if g["params"]]
    if oc.name == "sgd":
        return torch.optim.SGD(groups, lr=oc.lr, momentum=oc.momentum, weight_decay=oc.weight_decay)
    optimizer = torch.optim.AdamW if oc.name == "adamw" else torch.optim.Adam
    return optimizer(groups, lr=oc.lr, weight_decay=oc.weight_decay)


def build_scheduler(
    oc: OptimConfig, optimizer: torch.optim.Optimizer, steps: int
) -> torch.optim.lr_scheduler.LambdaLR | None:
    if oc.schedule == "constant":
        return None

    def cosine(step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
