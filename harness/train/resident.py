"""Image sets held on the training device: batches are gathered, decoded and widened there.

An in-memory set goes to the device once. A dataset with 8-bit pixels (``codes``: digits, Fashion-MNIST,
CIFAR) sends uint8 codes at their own channel count, with the table of the value each code stands for;
any other set under the preload limit sends float32 pixels. A batch is then one ``index_select`` and one
table lookup on the device: only positions cross from the host. The values are exactly ``load``'s, so a
run on the CPU trains on the same numbers as through ``load``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from harness.data.competition import Images

log = logging.getLogger("bench.train")


class DeviceImages:
    """A set's pixels (uint8 codes, or float32) and labels on ``device``; other attributes are the set's own."""

    def __init__(self, images: Images, pixels: torch.Tensor, values: torch.Tensor | None, device: torch.device):
        self._images = images
        self.pixels, self.values, self.device = pixels, values, torch.device(device)
        self.image_shape = tuple(images.image_shape)
        labels = getattr(images, "labels", None)
        self.device_labels = None if labels is None else torch.as_tensor(np.asarray(labels), device=self.device)

    def __len__(self) -> int:
        return len(self.pixels)

    def __getattr__(self, name: str) -> Any:
        if name == "_images":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._images, name)

    def gather(
        self, positions: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format
    ) -> torch.Tensor:
        """float32 ``(B, *image_shape)`` on the device for device ``positions`` (int64)."""
        picked = self.pixels.index_select(0, positions)
        images = picked if self.values is None else self.values.take(picked.long())
        channels = self.image_shape[0]
        if images.shape[1] != channels:  # grey codes, RGB model input
            images = images.expand(-1, channels, -1, -1)
        return images.contiguous(memory_format=memory_format)

    def load(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """What the set's own ``load`` gives (float32 on the host), from the device copy."""
        index = torch.as_tensor(np.asarray(positions, dtype=np.int64).reshape(-1), device=self.device)
        return self.gather(index).cpu().numpy()

    def nbytes(self) -> int:
        return self.pixels.element_size() * self.pixels.nelement()


def device_copy(images: Images, device: torch.device, limit_mb: float) -> DeviceImages | None:
    """``images`` on ``device`` if they fit in ``limit_mb`` (8-bit codes when the set has them), else None.

    A set already held in host memory in another form (float pixels of an in-memory dataset) is not copied
    to the CPU as float: it is read as it is held, a batch at a time."""
    n = len(images)
    if n == 0:
        return None
    codes_of = getattr(images, "codes", None)
    first = codes_of(np.arange(1)) if callable(codes_of) else None
    if first is not None:
        if n * first[0][0].nbytes / 2**20 > limit_mb:
            return None
        codes, values = codes_of(np.arange(n))
        pixels, table = torch.from_numpy(np.ascontiguousarray(codes)), torch.from_numpy(np.asarray(values))
        return DeviceImages(images, pixels.to(device), table.to(device=device, dtype=torch.float32), device)
    if n * int(np.prod(images.image_shape)) * 4 / 2**20 > limit_mb:
        return None
    if torch.device(device).type == "cpu" and getattr(images, "resident", False):
        return None
    pixels = torch.from_numpy(np.ascontiguousarray(images.load(np.arange(n)), dtype=np.float32))
    return DeviceImages(images, pixels.to(device), None, device)


def epoch_positions(batches: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """One epoch's batches of positions on the device: one host-to-device copy for the epoch, then views."""
    if not batches:
        return []
    sizes = [len(b) for b in batches]
    flat = torch.from_numpy(np.concatenate(batches).astype(np.int64, copy=False))
    if torch.device(device).type == "cuda":
        flat = flat.pin_memory().to(device, non_blocking=True)
    else:
        flat = flat.to(device)
    return list(torch.split(flat, sizes))
