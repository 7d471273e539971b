"""``shapes``: procedurally drawn coloured shapes and textures, any number of classes and images.

A class is a shape kind (disc, square, ring, stripes, dots, ...) with a hue; each image draws it at a
random position, rotation, scale and colour jitter over a noisy background. Every image is
rendered on demand from ``(seed, index)``, so a dataset of any size costs no memory and any
image is the same however it is batched.
"""

from __future__ import annotations

import numpy as np

from harness import DatasetError, ImageDataset, hookimpl

KINDS = ("disc", "square", "triangle", "ring", "cross", "stripes", "checker", "dots", "ellipse", "half-disc")
_GOLDEN = 0.6180339887


def _mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    square = (np.abs(u) < 0.8) & (np.abs(v) < 0.8)
    if kind == "disc":
        return r2 < 1.0
    if kind == "square":
        return square
    if kind == "triangle":
        return (v > -0.7) & (np.abs(u) < (0.9 - v) * 0.55)
    if kind == "ring":
        return (r2 < 1.0) & (r2 > 0.35)
    if kind == "cross":
        return ((np.abs(u) < 0.3) & (np.abs(v) < 1.0)) | ((np.abs(v) < 0.3) & (np.abs(u) < 1.0))
    if kind == "stripes":
        return square & (np.sin(u * 7.0) > 0)
    if kind == "checker":
        return square & (np.sin(u * 5.0) * np.sin(v * 5.0) > 0)
    if kind == "dots":
        return ((u - 0.5) ** 2 + v * v < 0.2) | ((u + 0.5) ** 2 + v * v < 0.2)
    if kind == "ellipse":
        return u * u + 4.0 * v * v < 1.0
    return (r2 < 1.0) & (v > 0)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


class ShapesDataset(ImageDataset):
    """``num_classes`` x ``per_class`` images of ``size`` x ``size`` pixels, class-major order."""

    def __init__(self, num_classes: int, per_class: int, size: int, seed: int, noise: float):
        if num_classes < 1 or per_class < 1 or size < 4:
            raise DatasetError("shapes needs num_classes >= 1, per_class >= 1 and size >= 4")
        self.per_class, self.size, self.seed, self.noise = int(per_class), int(size), int(seed), float(noise)
        self.labels = np.repeat(np.arange(num_classes, dtype=np.int64), per_class)
        self.class_names = [f"{KINDS[c % len(KINDS)]}-{c:03d}" for c in range(num_classes)]
        self.item_names = [f"{c:03d}/{i:05d}" for c in range(num_classes) for i in range(per_class)]
        self.image_shape = (3, self.size, self.size)
        # Classes sharing a shape kind get evenly spaced hues, so they stay apart however many there are.
        classes, groups = np.arange(num_classes), -(-num_classes // len(KINDS))
        self.hues = ((classes // len(KINDS)) / groups + (classes % len(KINDS)) * _GOLDEN + (seed % 997) * 0.001) % 1.0
        grid = (np.arange(self.size, dtype=np.float32) + 0.5) / self.size * 2.0 - 1.0
        self._y, self._x = np.meshgrid(grid, grid, indexing="ij")

    def _render(self, index: int) -> np.ndarray:
        label = int(self.labels[index])
        rng = np.random.default_rng([self.seed, index])
        angle = rng.uniform(0.0, 2.0 * np.pi)
        scale = rng.uniform(0.35, 0.7)
        cx, cy = rng.uniform(-0.25, 0.25, size=2)
        x, y = (self._x - cx) / scale, (self._y - cy) / scale
        u = np.cos(angle) * x + np.sin(angle) * y
        v = -np.sin(angle) * x + np.cos(angle) * y
        mask = _mask(KINDS[label % len(KINDS)], u, v)
        hue = self.hues[label] + rng.normal(0.0, 0.02)
        colour = _hsv_to_rgb(hue % 1.0, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
        background = rng.uniform(0.0, 0.35, size=3)
        image = np.where(mask[None], colour[:, None, None], background[:, None, None])
        image = image + rng.normal(0.0, self.noise, size=image.shape)
        return np.clip(image, 0.0, 1.0).astype(np.float32)

    def _load(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([self._render(int(i)) for i in indices])


def shapes(
    num_classes: int = 10, per_class: int = 100, size: int = 32, seed: int = 0, noise: float = 0.05
) -> ShapesDataset:
    """Procedurally drawn coloured shapes; deterministic from ``seed``, rendered lazily."""
    return ShapesDataset(num_classes, per_class, size, seed, noise)


@hookimpl
def register_datasets(register):
    register("shapes", shapes, description="procedural coloured shapes, any size, rendered lazily")
