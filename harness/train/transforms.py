"""Training-time image transforms for natural photographs (torchvision.transforms.v2).

Random resized crop, horizontal flip and colour jitter (brightness, contrast, saturation; never hue, which
may be what a class is). Evaluation uses the images as the dataset gives them (resized to its fixed size),
so train and eval differ only by these label-preserving perturbations. ``train.transforms=auto`` turns
them on for datasets that declare themselves photos (folder, csv, CIFAR) and off for digits or drawn shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from harness.config import TrainConfig


def wanted(tc: TrainConfig, photos: bool) -> bool:
    return tc.transforms == "on" or (tc.transforms == "auto" and photos)


def train_transform(
    tc: TrainConfig, image_shape: Sequence[int], photos: bool
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A callable on a float batch ``(B, 3, H, W)`` in [0, 1], each image drawn independently; None when off."""
    if not wanted(tc, photos):
        return None
    from torchvision.transforms import v2

    steps: list = []
    if tc.crop_scale < 1:
        steps.append(v2.RandomResizedCrop(tuple(image_shape[-2:]), scale=(tc.crop_scale, 1.0), antialias=True))
    if tc.flip:
        steps.append(v2.RandomHorizontalFlip())
    if tc.color_jitter > 0:
        steps.append(v2.ColorJitter(brightness=tc.color_jitter, contrast=tc.color_jitter, saturation=tc.color_jitter))
    if not steps:
        return None
    pipeline = v2.Compose(steps)

    def apply(images: torch.Tensor) -> torch.Tensor:
        # v2 draws one set of parameters per call: per image, so that a batch is not one crop repeated.
        return torch.stack([pipeline(image) for image in images]).clamp_(0.0, 1.0)

    return apply
