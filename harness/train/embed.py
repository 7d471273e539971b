"""Sets of images in batches: embed them without their labels, or load them for training."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch

from harness.train.devices import autocast, cpu_threads
from harness.train.resident import DeviceImages

if TYPE_CHECKING:
    from rich.progress import Progress

    from harness.config import TrainConfig
    from harness.data.competition import Images

    # An image set as training holds it: the competition's own, on the device, or decoded once in memory.
    ImageSet: TypeAlias = "Images | DeviceImages | _InMemory"


@dataclass(frozen=True)
class EmbedOptions:
    """Where and how a run embeds: its device, ``train.embed_batch_size``, ``train.amp`` and decoding workers."""

    device: torch.device
    batch_size: int = 256
    amp: bool = False
    workers: int = 0

    @classmethod
    def of(cls, train: TrainConfig, device: torch.device) -> EmbedOptions:
        """A run's options from its ``TrainConfig``."""
        return cls(torch.device(device), train.embed_batch_size, train.amp)


@torch.no_grad()
def embed_images(
    model: torch.nn.Module,
    images: ImageSet,
    options: EmbedOptions,
    progress: Progress | None = None,
    description: str = "embedding",
    relaxed: bool = False,
) -> np.ndarray:
    """``(N, D)`` float32 for ``images`` (anything with ``__len__`` and ``load(positions)``).

    ``relaxed=False`` gives what the indexer receives (``model.embed``: ±1 codes for a hash head);
    ``relaxed=True`` gives the training-time output (``model.forward``), e.g. for hard-negative mining.
    A set resident on the device (:class:`~harness.train.resident.DeviceImages`) is gathered there; files are
    decoded by ``workers`` processes (see :func:`loader_workers`: some by default on CUDA) into pinned memory
    when the device is CUDA, so the copy overlaps the next batch's decoding. On the CPU every available
    thread embeds, whatever ``train.threads`` says (the count is restored afterwards). The embeddings stay
    on the device until the last batch: one copy back, no wait per batch.
    """
    was_training = model.training
    model.eval()
    device, batch_size, amp, workers = torch.device(options.device), options.batch_size, options.amp, options.workers
    total = len(images)
    task = progress.add_task(description, total=total) if progress is not None else None
    chunks = []
    batches = [np.arange(start, min(start + batch_size, total)) for start in range(0, total, batch_size)]
    try:
        with cpu_threads(available_threads() if device.type == "cpu" else 0):
            if isinstance(images, DeviceImages):
                index = torch.arange(total, device=device)
                loaded = ((positions, images.gather(index[positions[0] : positions[-1] + 1])) for positions in batches)
            else:
                pinned = load_batches(images, batches, loader_workers(workers, device, images), device.type == "cuda")
                loaded = ((positions, as_device_batch(pixels, device)) for positions, pixels in pinned)
            for positions, batch in loaded:
                with autocast(device, amp):
                    out = model(batch) if relaxed else model.embed(batch)
                chunks.append(out.float())
                if task is not None:
                    progress.advance(task, len(positions))
            embeddings = torch.cat(chunks).cpu().numpy() if chunks else None
    finally:
        if task is not None:
            progress.remove_task(task)
        model.train(was_training)
    if embeddings is None:
        return np.zeros((0, getattr(model, "out_dim", 0)), dtype=np.float32)
    return embeddings.astype(np.float32, copy=False)


def as_device_batch(pixels: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).to(device, non_blocking=True)


def available_threads() -> int:
    """The CPU threads this process may use (its affinity mask, where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def loader_workers(requested: int, device: torch.device | str, images: ImageSet) -> int:
    """Decoding processes for ``images``: ``requested`` if set; for files on CUDA, up to 4; else none.

    In-memory sets need none. On CUDA a GPU step is far quicker than decoding its batch in
    the main process, so file datasets get workers even when ``train.num_workers`` is 0.
    """
    if resident(images):
        return 0
    if requested > 0:
        return requested
    return min(4, os.cpu_count() or 1) if torch.device(device).type == "cuda" else 0


def resident(images: ImageSet) -> bool:
    """Pixels already in memory (loaded once here, or held by an in-memory dataset): no workers, no copies."""
    return isinstance(images, _InMemory) or bool(getattr(images, "resident", False))


class _InMemory:
    """An ``Images`` whose pixels were loaded once; everything else is forwarded."""

    def __init__(self, images: Images, pixels: np.ndarray):
        self._images, self._pixels = images, pixels

    def __len__(self) -> int:
        return len(self._pixels)

    def load(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._pixels[np.asarray(positions, dtype=np.int64)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._images, name)


class _Batches(torch.utils.data.Dataset):
    def __init__(self, images: ImageSet, batches: list[np.ndarray]):
        self.images, self.batches = images, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batches[i], self.images.load(self.batches[i])


def load_batches(
    images: ImageSet, batches: list[np.ndarray], workers: int, pin_memory: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(positions, pixels)`` per batch, in order; decoded by ``workers`` processes when asked.

    ``pin_memory`` (for CUDA) puts each batch in page-locked memory: the pixels are then a NumPy
    view of it, so ``torch.from_numpy(...).to(device, non_blocking=True)`` copies asynchronously.
    """
    if resident(images) or (workers == 0 and not pin_memory):
        return ((positions, images.load(positions)) for positions in batches)
    loader = torch.utils.data.DataLoader(
        _Batches(images, batches),
        batch_size=None,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    return ((np.asarray(positions), pixels.numpy()) for positions, pixels in loader)


def in_memory(images: ImageSet, limit_mb: int) -> ImageSet:
    """Small sets are decoded once instead of every epoch; sets already in memory are used as they are
    (their pixels stay in their own size and type, converted one batch at a time)."""
    n = len(images)
    if resident(images):
        return images
    size_mb = n * int(np.prod(images.image_shape)) * 4 / 2**20
    if n == 0 or size_mb > limit_mb:
        return images
    return _InMemory(images, np.ascontiguousarray(images.load(np.arange(n)), dtype=np.float32))
