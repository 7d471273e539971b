"""Sets of images in batches: embed them without their labels, or load them for training."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.train.devices import autocast


@torch.no_grad()
def embed_images(
    model: torch.nn.Module,
    images: Any,
    device: torch.device,
    batch_size: int = 256,
    amp: bool = False,
    progress: Any = None,
    description: str = "embedding",
    relaxed: bool = False,
) -> np.ndarray:
    """``(N, D)`` float32 for ``images`` (anything with ``__len__`` and ``load(positions)``).

    ``relaxed=False`` gives what the indexer receives (``model.embed``: ±1 codes for a hash head);
    ``relaxed=True`` gives the training-time output (``model.forward``), e.g. for hard-negative mining.
    """
    was_training = model.training
    model.eval()
    total = len(images)
    task = progress.add_task(description, total=total) if progress is not None else None
    chunks = []
    try:
        for start in range(0, total, batch_size):
            positions = np.arange(start, min(start + batch_size, total))
            batch = torch.from_numpy(np.ascontiguousarray(images.load(positions), dtype=np.float32)).to(device)
            with autocast(device, amp):
                out = model(batch) if relaxed else model.embed(batch)
            chunks.append(out.float().cpu().numpy())
            if task is not None:
                progress.advance(task, len(positions))
    finally:
        if task is not None:
            progress.remove_task(task)
        model.train(was_training)
    if not chunks:
        return np.zeros((0, getattr(model, "out_dim", 0)), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


class _InMemory:
    """An ``Images`` whose pixels were loaded once; everything else is forwarded."""

    def __init__(self, images, pixels: np.ndarray):
        self._images, self._pixels = images, pixels

    def __len__(self) -> int:
        return len(self._pixels)

    def load(self, positions) -> np.ndarray:
        return self._pixels[np.asarray(positions, dtype=np.int64)]

    def __getattr__(self, name: str):
        return getattr(self._images, name)


class _Batches(torch.utils.data.Dataset):
    def __init__(self, images, batches):
        self.images, self.batches = images, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int):
        return self.batches[i], self.images.load(self.batches[i])


def load_batches(images, batches: list[np.ndarray], workers: int):
    """``(positions, pixels)`` per batch, in order; decoded by ``workers`` processes when asked."""
    if workers == 0 or isinstance(images, _InMemory):
        return ((positions, images.load(positions)) for positions in batches)
    loader = torch.utils.data.DataLoader(_Batches(images, batches), batch_size=None, num_workers=workers)
    return ((np.asarray(positions), np.asarray(pixels)) for positions, pixels in loader)


def in_memory(images, limit_mb: int):
    """Small sets are decoded once instead of every epoch (digits: ~1 MB)."""
    n = len(images)
    size_mb = n * int(np.prod(images.image_shape)) * 4 / 2**20
    if n == 0 or size_mb > limit_mb:
        return images
    return _InMemory(images, np.ascontiguousarray(images.load(np.arange(n)), dtype=np.float32))
