"""``train.batch_size = "auto"``: a batch for the device, in the sampler's P x K structure.

Per device: 32 images on the CPU (bench's tiny models train best in small steps on one thread), and on a
GPU as many as fit the images' size, up to 1,024 (the batch of fast CIFAR trainers such as airbench): a
small CNN on 28x28 or 32x32 images gets 1,024, 224x224 photos get 128. A sampler that draws K images per
class (``sampler.k``) gets P x K with P no more than the training classes, so that every batch can be
drawn; the batch never exceeds half the training set.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from harness.components import registry
from harness.config import RunConfig

if TYPE_CHECKING:
    from harness.train.embed import ImageSet

log = logging.getLogger("bench.train")
AUTO = "auto"
CPU_BATCH = 32
GPU_MAX_BATCH, GPU_MIN_BATCH = 1024, 128
GPU_FULL_BATCH_PIXELS = 3 * 32 * 32  # images this size or smaller get the full batch on a GPU
MPS_BATCH = 256


def device_batch(device_type: str, image_shape: Sequence[int]) -> int:
    """The batch a device gets for images of ``image_shape`` (before the sampler's structure)."""
    if device_type == "cpu":
        return CPU_BATCH
    if device_type == "mps":
        return MPS_BATCH
    pixels = int(np.prod(image_shape))
    scaled = GPU_MAX_BATCH * GPU_FULL_BATCH_PIXELS // max(pixels, 1)
    power = 1 << max(scaled, 1).bit_length() - 1  # the power of two at or below
    return int(min(GPU_MAX_BATCH, max(GPU_MIN_BATCH, power)))


def auto_batch_size(
    device_type: str, image_shape: Sequence[int], train_size: int, num_classes: int, k: int | None
) -> int:
    """The device's batch as P x K (``k`` = images per class, None for a sampler without classes per batch)."""
    batch = min(device_batch(device_type, image_shape), max(2, train_size // 2))
    if k:
        classes = max(1, min(num_classes, batch // k))
        batch = classes * k
    return max(2, batch)


def sampler_k(cfg: RunConfig) -> int | None:
    """The sampler's images per class: its ``k`` setting, or its default; None if it has none."""
    name, settings = cfg.component("sampler")
    if "k" in settings:
        return int(settings["k"])
    default = registry("samplers").get(name).settings().get("k")
    return int(default) if isinstance(default, int) and not isinstance(default, bool) else None


def resolve_batch_size(cfg: RunConfig, train: ImageSet, device: torch.device) -> RunConfig:
    """``cfg`` with a number for ``train.batch_size`` (unchanged unless it is ``auto``)."""
    if cfg.train.batch_size != AUTO:
        return cfg
    k = sampler_k(cfg)
    batch = auto_batch_size(torch.device(device).type, train.image_shape, len(train), train.num_classes, k)
    structure = f" ({batch // k} classes x {k})" if k else ""
    log.info("train.batch_size=auto: %d%s on %s", batch, structure, torch.device(device).type)
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=batch))
