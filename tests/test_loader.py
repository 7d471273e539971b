"""Batches of file images through DataLoader workers: same pixels, workers chosen by device."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from harness.data.competition import Images
from harness.train.embed import _InMemory, load_batches, loader_workers
from plugins.datasets.folder import folder


def test_workers_give_the_same_batches_in_order(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(30):
        (tmp_path / f"c{i % 3}").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(tmp_path / f"c{i % 3}" / f"{i}.png")
    dataset = folder(str(tmp_path), size=8)
    images = Images(dataset.item_names, dataset.image_shape, np.arange(30), dataset.pixels())
    batches = [np.arange(s, min(s + 7, 30)) for s in range(0, 30, 7)][::-1]
    direct = list(load_batches(images, batches, 0))
    with_workers = list(load_batches(images, batches, 2))
    assert len(direct) == len(with_workers) == 5
    for (pos_a, pix_a), (pos_b, pix_b) in zip(direct, with_workers):
        np.testing.assert_array_equal(pos_a, pos_b)
        np.testing.assert_array_equal(pix_a, pix_b)
        assert pix_b.dtype == np.float32 and pix_b.shape == (len(pos_a), 3, 8, 8)


def test_loader_workers_by_device_and_request():
    files = Images(["a"], (3, 2, 2), np.arange(1), lambda i: np.zeros((len(i), 3, 2, 2), np.float32))
    assert loader_workers(0, "cpu", files) == 0
    assert 1 <= loader_workers(0, torch.device("cuda"), files) <= 4  # file datasets on CUDA get workers
    assert loader_workers(3, "cpu", files) == 3
    preloaded = _InMemory(files, np.zeros((1, 3, 2, 2), np.float32))
    assert loader_workers(3, "cuda", preloaded) == 0


def test_sets_of_an_in_memory_dataset_are_used_as_held():
    from harness.data.datasets import ArrayDataset
    from harness.train.embed import in_memory

    grey = np.arange(4 * 5 * 5, dtype=np.uint8).reshape(4, 5, 5)
    dataset = ArrayDataset(grey, [0, 1, 0, 1], list("abcd"), ["x", "y"])
    labeled = Images(dataset.item_names, dataset.image_shape, np.arange(4), dataset.load)
    unlabeled = Images(dataset.item_names, dataset.image_shape, np.arange(4), dataset.pixels())
    for images in (labeled, unlabeled):
        assert images.resident and in_memory(images, limit_mb=512) is images  # no float copy of the pixels
        assert loader_workers(3, "cuda", images) == 0
        (_, pixels), *_ = load_batches(images, [np.array([2, 0])], 0, pin_memory=True)
        np.testing.assert_array_equal(pixels, np.repeat(grey[[2, 0], None] / np.float32(255), 3, axis=1))
    files = Images(["a"], (3, 2, 2), np.arange(1), lambda i: np.zeros((len(i), 3, 2, 2), np.float32))
    assert not files.resident and isinstance(in_memory(files, limit_mb=512), _InMemory)
