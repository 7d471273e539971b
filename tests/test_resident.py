"""The training loop's device path: resident sets, batch_size=auto, embedding threads, search timing."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from harness.data.competition import LabeledImages, open_competition
from harness.data.datasets import ArrayDataset
from harness.errors import ConfigError
from harness.pipeline import resolve_run_config
from harness.train.batching import auto_batch_size, resolve_batch_size
from harness.train.embed import EmbedOptions, _InMemory, available_threads, embed_images
from harness.train.loop import on_device, train_one_epoch
from harness.train.parts import build_parts, build_sampler
from harness.train.resident import DeviceImages, device_copy
from harness.train.search import timed_search


def labeled(dataset: ArrayDataset) -> LabeledImages:
    n = len(dataset)
    return LabeledImages(
        dataset.item_names,
        dataset.image_shape,
        np.arange(n),
        dataset.load,
        dataset.labels,
        dataset.class_names,
    ).with_codes(dataset.codes)


@pytest.mark.parametrize(
    ("images", "scale"),
    [
        (np.random.default_rng(0).integers(0, 256, (20, 6, 5), dtype=np.uint8), 255.0),  # grey, uint8
        (np.random.default_rng(1).integers(0, 256, (20, 6, 5, 3), dtype=np.uint8), 255.0),  # RGB, HWC
        (np.random.default_rng(2).integers(0, 17, (20, 6, 5)).astype(np.float64), 16.0),  # digits' 0..16 floats
    ],
)
def test_a_resident_8bit_set_gathers_exactly_what_load_gives(images, scale):
    dataset = ArrayDataset(images, np.arange(20) % 4, [f"i{i}" for i in range(20)], list("abcd"), scale=scale)
    device_set = device_copy(labeled(dataset), torch.device("cpu"), limit_mb=1)
    assert isinstance(device_set, DeviceImages) and device_set.pixels.dtype == torch.uint8
    assert device_set.pixels.shape[1] == (3 if images.ndim == 4 else 1)  # grey stays one channel on the device
    positions = np.array([7, 0, 19, 3, 3])
    gathered = device_set.gather(torch.as_tensor(positions)).numpy()
    np.testing.assert_array_equal(gathered, dataset.load(positions))  # bit for bit, not approximately
    assert gathered.dtype == np.float32 and gathered.shape == (5, 3, 6, 5)
    assert device_set.device_labels.tolist() == dataset.labels.tolist()


def test_other_sets_go_to_the_device_as_float_and_big_ones_stay_on_the_host():
    images = np.random.default_rng(0).random((10, 3, 4, 4)).astype(np.float32)  # not 8-bit, not held in memory
    files = LabeledImages(
        [f"i{i}" for i in range(10)], (3, 4, 4), np.arange(10), lambda i: images[i], np.arange(10) % 2, ["a", "b"]
    )
    device_set = device_copy(files, torch.device("cpu"), limit_mb=1)
    assert device_set.pixels.dtype == torch.float32 and device_set.values is None
    np.testing.assert_array_equal(device_set.load([4, 1]), images[[4, 1]])
    assert device_copy(files, torch.device("cpu"), limit_mb=0) is None
    assert on_device(files, torch.device("cpu"), 0) is files  # too big: read batch by batch


def test_float_pixels_held_in_memory_are_not_copied_on_the_cpu():
    images = np.random.default_rng(0).random((10, 4, 4)).astype(np.float32)
    dataset = ArrayDataset(images, np.arange(10) % 2, [f"i{i}" for i in range(10)], ["a", "b"], scale=1.0)
    assert dataset.codes([0]) is None
    assert device_copy(labeled(dataset), torch.device("cpu"), limit_mb=1) is None


@pytest.mark.parametrize("sets", [[], ["train.augment=true"], ["loss.name=triplet", "sampler.name=pk"]])
def test_the_resident_and_host_paths_train_the_same_weights(workspace, sets):
    cfg = resolve_run_config("softmax", competition="digits", sets=["train.batch_size=32", *sets], device="cpu")
    train = open_competition(workspace, "digits").train()
    results = []
    for images in (device_copy(train, torch.device("cpu"), 64), _InMemory(train, train.load(np.arange(len(train))))):
        torch.manual_seed(0)
        parts = build_parts(cfg, images, torch.device("cpu"))
        parts.diagnostics.start_epoch()
        losses = [train_one_epoch(parts, images, cfg, "cpu", None, f"epoch {e}") for e in range(2)]
        results.append((losses, parts.model.state_dict(), parts.diagnostics.record()))
    (losses_a, weights_a, census_a), (losses_b, weights_b, census_b) = results
    assert losses_a == losses_b and census_a == census_b and census_a
    for name, tensor in weights_a.items():
        assert torch.equal(tensor, weights_b[name]), name


def test_a_non_finite_loss_stops_training_with_one_clear_error(workspace):
    from harness.errors import TrainingError

    cfg = resolve_run_config("softmax", competition="digits", sets=["optim.lr=1e30", "optim.name=sgd"], device="cpu")
    train = device_copy(open_competition(workspace, "digits").train(), torch.device("cpu"), 64)
    parts = build_parts(cfg, train, torch.device("cpu"))
    with pytest.raises(TrainingError, match="training loss became"):
        for epoch in range(3):
            train_one_epoch(parts, train, cfg, "cpu", None, f"epoch {epoch}")


@pytest.mark.parametrize(
    ("device", "shape", "size", "classes", "k", "expected"),
    [
        ("cpu", (3, 8, 8), 600, 10, None, 32),
        ("cpu", (3, 8, 8), 600, 10, 8, 32),  # 4 classes x 8
        ("cuda", (3, 28, 28), 42_000, 10, None, 1024),
        ("cuda", (3, 28, 28), 42_000, 10, 8, 80),  # P is capped by the 10 classes
        ("cuda", (3, 28, 28), 42_000, 100, 4, 400),  # 1,024 would need 256 classes: 100 x 4
        ("cuda", (3, 224, 224), 100_000, 1000, None, 128),
        ("cuda", (3, 32, 32), 100, 10, None, 50),  # never more than half the training set
        ("mps", (3, 32, 32), 50_000, 100, None, 256),
    ],
)
def test_auto_batch_size_per_device_in_p_by_k(device, shape, size, classes, k, expected):
    batch = auto_batch_size(device, shape, size, classes, k)
    assert batch == expected
    if k:
        assert batch % k == 0 and batch // k <= classes


@pytest.mark.parametrize("method", ["triplet", "softmax", "mass-retrieval"])
def test_batch_size_auto_gives_a_batch_its_sampler_accepts(workspace, method):
    cfg = resolve_run_config(method, competition="digits", sets=["train.batch_size=auto"], device="cpu")
    assert cfg.train.batch_size == "auto"
    train = open_competition(workspace, "digits").train()
    resolved = resolve_batch_size(cfg, train, torch.device("cpu"))
    assert resolved.train.batch_size == 32 and resolved.hash != cfg.hash
    assert len(build_sampler(resolved, train.labels)) == len(train) // 32


@pytest.mark.parametrize("value", ["big", "0", "-3"])
def test_a_bad_batch_size_is_one_clear_config_error(value):
    with pytest.raises(ConfigError, match="train.batch_size"):
        resolve_run_config("softmax", competition="digits", sets=[f"train.batch_size={value}"], device="cpu")


def test_train_compile_accepts_its_modes_and_nothing_else():
    cfg = resolve_run_config("softmax", competition="digits", sets=["train.compile=reduce-overhead"], device="cpu")
    assert cfg.train.compile == "reduce-overhead"
    with pytest.raises(ConfigError, match="train.compile"):
        resolve_run_config("softmax", competition="digits", sets=["train.compile=fast"], device="cpu")


class ThreadSpy(torch.nn.Module):
    out_dim = 2

    def __init__(self):
        super().__init__()
        self.seen: list[int] = []

    def forward(self, images):
        self.seen.append(torch.get_num_threads())
        return images.flatten(1)[:, :2]

    embed = forward


@pytest.mark.parametrize("as_resident", [False, True])
def test_embedding_uses_every_thread_and_gives_the_count_back(as_resident):
    images = np.random.default_rng(0).integers(0, 256, (10, 4, 4), dtype=np.uint8)
    dataset = ArrayDataset(images, np.zeros(10, dtype=int), [f"i{i}" for i in range(10)], ["a"])
    source = device_copy(labeled(dataset), torch.device("cpu"), 1) if as_resident else labeled(dataset)
    model, before = ThreadSpy(), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = embed_images(model, source, EmbedOptions(torch.device("cpu"), batch_size=3))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert model.seen == [available_threads()] * 4
    np.testing.assert_array_equal(out, dataset.load(np.arange(10)).reshape(10, -1)[:, :2])


class SlowStart:
    """An indexer whose first search pays a one-off start-up (as CUDA does)."""

    def __init__(self):
        self.calls: list[int] = []

    def search(self, queries, k):
        if not self.calls:
            time.sleep(0.5)
        self.calls.append(len(queries))
        return np.zeros((len(queries), k)), np.tile(np.arange(k), (len(queries), 1))


def test_the_search_cost_excludes_one_off_start_up():
    indexer, queries = SlowStart(), np.zeros((200, 4), dtype=np.float32)
    indices, ms_per_query = timed_search(indexer, queries, 3)
    assert indexer.calls == [64, 200]  # a few untimed queries first, then every query, timed
    assert indices.shape == (200, 3)
    assert ms_per_query < 0.5 * 1000 / 200  # the 0.5 s start-up would be 2.5 ms per query
