"""Datasets: images, integer labels and stable item names, behind one small interface.

A ``register_datasets`` factory returns an :class:`ImageDataset`. ``load(indices)`` is the only
way to pixels, so a dataset may hold its images in memory, render them on demand, or read files
lazily. This module knows no particular dataset and imports neither torch nor PIL at import time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from harness import settings
from harness.errors import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


class ImageDataset:
    """Base class of every dataset.

    Subclasses set ``labels`` ((N,) int64), ``item_names`` (stable, unique), ``class_names`` and
    ``image_shape`` ((3, H, W), what ``load`` returns) and implement ``_load(indices)``.
    ``roles`` may be set to an (N,) array of fixed roles (``train``/``val``/``query``/``gallery``
    or ``""``) for the ``given`` split protocol. ``id_prefix`` may name a short prefix for the
    competition's item ids (default: the dataset's registered name).
    """

    labels: np.ndarray
    item_names: list[str]
    class_names: list[str]
    image_shape: tuple[int, int, int]
    roles: np.ndarray | None = None
    id_prefix: str | None = None
    # Natural photographs: random crops, flips and colour jitter keep their labels (train.transforms=auto).
    photos: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 ``(n, 3, H, W)`` in ``[0, 1]`` for the given item indices (in that order)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DatasetError(f"item index out of range 0..{len(self) - 1}")
        if idx.size == 0:
            return np.zeros((0, *self.image_shape), dtype=np.float32)
        return self._load(idx)

    def _load(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def pixels(self) -> Callable[[np.ndarray], np.ndarray]:
        """A callable ``indices -> images`` for query and gallery sets. Datasets that can return
        one holding no labels, so that labels are not reachable from those sets at all."""
        return self.load


def to_chw_float(images: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """(n,H,W), (n,H,W,1|3) or (n,3,H,W) numbers in ``[0, scale]`` -> float32 (n,3,H,W) in [0,1]."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    return np.clip(arr / np.float32(scale), 0.0, 1.0).astype(np.float32, copy=False)


def code_values(scale: float = 255.0) -> np.ndarray:
    """float32 (256,): the pixel value of each 8-bit code, exactly what :func:`to_chw_float` makes of it."""
    return np.clip(np.arange(256, dtype=np.float32) / np.float32(scale), 0.0, 1.0).astype(np.float32, copy=False)


def to_nchw_codes(images: np.ndarray) -> np.ndarray:
    """8-bit images in any layout :func:`to_chw_float` accepts -> uint8 (n, C, H, W), C = 1 or 3 (not widened)."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def holds_8bit(images: np.ndarray) -> bool:
    """Whether every pixel is a whole number in 0..255 (uint8 files, or digits' 0..16 as floats)."""
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return True
    if arr.size == 0 or arr.dtype.kind not in "uif":
        return False
    if arr.min() < 0 or arr.max() > 255:
        return False
    return arr.dtype.kind != "f" or bool(np.all(arr == np.rint(arr)))


def check_labels(labels: Sequence[int], item_names: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """Validate the three together; returns labels as int64."""
    arr = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(arr) != len(item_names):
        raise DatasetError(f"{len(arr)} labels but {len(item_names)} item names")
    if len(set(item_names)) != len(item_names):
        raise DatasetError("item names are not unique")
    if arr.size and (arr.min() < 0 or arr.max() >= len(class_names)):
        raise DatasetError(f"labels must lie in 0..{len(class_names) - 1}")
    return arr


class ArrayDataset(ImageDataset):
    """Images already in memory: ``images`` in any layout :func:`to_chw_float` accepts.

    They are kept as given (uint8 grey 28x28 stays 784 bytes an item) and become float (n, 3, H, W)
    one batch at a time, in ``load``.
    """

    resident = True

    def __init__(
        self,
        images: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        item_names: Sequence[str],
        class_names: Sequence[str],
        scale: float = 255.0,
    ):
        self.images = images
        self.scale = scale
        self.class_names = [str(c) for c in class_names]
        self.item_names = [str(n) for n in item_names]
        self.labels = check_labels(labels, self.item_names, self.class_names)
        self.image_shape = tuple(to_chw_float(images[:1], scale).shape[1:])  # type: ignore[assignment]
        self._8bit: bool | None = None

    def _load(self, indices: np.ndarray) -> np.ndarray:
        return to_chw_float(self.images[indices], self.scale)

    def pixels(self) -> ArrayPixels:
        return ArrayPixels(self.images, self.scale)

    def codes(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(uint8 (n, C, H, W), code_values)`` for 8-bit images, so that ``values[codes]`` (channels widened to
        3) is exactly ``load(indices)``; None when the images are not 8-bit. Training keeps these on its device."""
        if self._8bit is None:
            self._8bit = holds_8bit(self.images)
        if not self._8bit:
            return None
        return to_nchw_codes(self.images[np.asarray(indices, dtype=np.int64)]), code_values(self.scale)


class ArrayPixels:
    """Pixels of an :class:`ArrayDataset` and nothing else (no labels, no names)."""

    __slots__ = ("images", "scale")
    resident = True

    def __init__(self, images: np.ndarray, scale: float):
        self.images, self.scale = images, scale

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return to_chw_float(self.images[np.asarray(indices, dtype=np.int64)], self.scale)


class FileDataset(ImageDataset):
    """Image files read lazily with PIL, converted to RGB and resized to ``size`` (H, W)."""

    photos = True

    def __init__(
        self,
        paths: Sequence[str | Path],
        labels: Sequence[int] | np.ndarray,
        item_names: Sequence[str],
        class_names: Sequence[str],
        size: int | Sequence[int] = 64,
        roles: Sequence[str] | np.ndarray | None = None,
    ):
        self.paths = [Path(p) for p in paths]
        self.class_names = [str(c) for c in class_names]
        self.item_names = [str(n) for n in item_names]
        self.labels = check_labels(labels, self.item_names, self.class_names)
        height, width = (int(size), int(size)) if isinstance(size, (int, np.integer)) else map(int, size)
        if height < 1 or width < 1:
            raise DatasetError(f"image size must be positive, got {size!r}")
        self.image_shape = (3, height, width)
        self.roles = None if roles is None else np.asarray(roles, dtype=object)

    def _load(self, indices: np.ndarray) -> np.ndarray:
        return read_images(self.paths, indices, self.image_shape)

    def pixels(self) -> FilePixels:
        return FilePixels(self.paths, self.image_shape)


class FilePixels:
    """Pixels of a :class:`FileDataset` and nothing else (no labels, no names)."""

    __slots__ = ("image_shape", "paths")

    def __init__(self, paths: list[Path], image_shape: tuple[int, int, int]):
        self.paths, self.image_shape = paths, image_shape

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return read_images(self.paths, np.asarray(indices, dtype=np.int64).reshape(-1), self.image_shape)


def read_images(paths: list[Path], indices: np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    """float32 ``(n, 3, H, W)`` in [0, 1]: the files at ``indices``, as RGB, resized to ``image_shape``."""
    from PIL import Image

    out = np.empty((len(indices), *image_shape), dtype=np.float32)
    size = (image_shape[2], image_shape[1])
    for row, i in enumerate(indices):
        path = paths[i]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize(size, Image.BILINEAR)
        except OSError as exc:
            raise DatasetError(f"cannot read image {path}: {exc}") from None
        out[row] = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return out


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def fingerprint(dataset: ImageDataset) -> str:
    """SHA-256 of item names and labels: changes when the dataset's items or their order change."""
    digest = hashlib.sha256()
    for name, label in zip(dataset.item_names, dataset.labels.tolist()):
        digest.update(f"{name}\t{label}\n".encode())
    return digest.hexdigest()


def default_data_dir() -> Path:
    """Where downloaded datasets live: ``$BENCH_DATA_DIR``, else ``<workspace>/data``."""
    return settings.data_folders()[0]
