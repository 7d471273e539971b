"""Embed a set of images in batches, without their labels: ``Images`` in, float32 vectors out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.devices import autocast


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
