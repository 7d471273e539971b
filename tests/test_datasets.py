"""Datasets: the ImageDataset contract for every registered one, and each built-in's specifics."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.components import create_dataset
from harness.errors import DatasetError
from harness.plugins import PluginHost

REGISTERED = PluginHost().load().registry("datasets").names()
TORCHVISION = ("cifar10", "cifar100", "mnist")


def write_png_tree(root, classes=("cat", "dog", "emu"), per_class=4, size=(12, 10)):
    """One sub-folder per class of small PNGs (colour, plus one grey image per class)."""
    rng = np.random.default_rng(0)
    for _c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            image = Image.fromarray(pixels).convert("L") if i == 0 else Image.fromarray(pixels)
            image.save(root / name / f"img{i:02d}.png")
    (root / classes[0] / "notes.txt").write_text("not an image")
    return root


def write_csv(folder, rows, header="path,label,role"):
    write_png_tree(folder / "images")
    lines = [header] + [",".join(r) for r in rows]
    (folder / "list.csv").write_text("\n".join(lines) + "\n")
    return folder / "list.csv"


@pytest.fixture
def png_tree(tmp_path):
    return write_png_tree(tmp_path / "tree")


def _config(name, tmp_path):
    if name == "shapes":
        return {"num_classes": 3, "per_class": 4, "size": 16}
    if name == "folder":
        return {"root": str(write_png_tree(tmp_path / "tree")), "size": 8}
    if name == "csv":
        return {
            "path": str(
                write_csv(tmp_path, [("images/cat/img01.png", "cat", "train"), ("images/dog/img00.png", "dog", "")])
            )
        }
    if name in TORCHVISION:
        return {"download": False}
    return {}


@pytest.mark.parametrize("name", REGISTERED)
def test_every_dataset_keeps_the_contract(name, tmp_path):
    try:
        ds = create_dataset(name, **_config(name, tmp_path))
    except DatasetError as exc:
        pytest.skip(f"{name} not available offline: {exc}")
    n = len(ds)
    assert n > 0 and ds.labels.dtype == np.int64 and ds.labels.shape == (n,)
    assert len(ds.item_names) == n and len(set(ds.item_names)) == n
    assert ds.labels.min() >= 0 and ds.labels.max() < len(ds.class_names)
    assert len(ds.image_shape) == 3 and ds.image_shape[0] == 3
    batch = ds.load([n - 1, 0])
    assert batch.dtype == np.float32 and batch.shape == (2, *ds.image_shape)
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    np.testing.assert_array_equal(ds.load([0])[0], batch[1])
    assert ds.load([]).shape == (0, *ds.image_shape)
    with pytest.raises(DatasetError):
        ds.load([n])


def test_digits_are_grey_8x8_scaled_to_unit_range():
    from sklearn.datasets import load_digits

    ds = create_dataset("digits")
    reference = load_digits()
    np.testing.assert_array_equal(ds.labels, reference.target)
    np.testing.assert_array_equal(ds.load([7])[0, 0], reference.images[7] / 16.0)
    assert len(ds) == 1797 and ds.class_names == [str(i) for i in range(10)]
    images = ds.load(np.arange(len(ds)))
    assert images.shape == (1797, 3, 8, 8) and images.max() == 1.0
    np.testing.assert_array_equal(images[:, 0], images[:, 2])


def test_shapes_are_deterministic_lazy_and_seeded():
    a, b = create_dataset("shapes", seed=3), create_dataset("shapes", seed=3)
    np.testing.assert_array_equal(a.load([5, 700]), b.load([5, 700]))
    np.testing.assert_array_equal(a.load([700])[0], a.load([1, 700])[1])
    assert not np.array_equal(a.load([5]), create_dataset("shapes", seed=4).load([5]))
    big = create_dataset("shapes", num_classes=200, per_class=1000, size=64)
    assert len(big) == 200_000 and len(set(big.class_names)) == 200
    held = sum(v.nbytes for v in vars(big).values() if isinstance(v, np.ndarray))
    assert held < 5 * 2**20  # labels only: no pixels are kept


def test_folder_reads_classes_from_subfolders(png_tree):
    ds = create_dataset("folder", root=str(png_tree), size=6)
    assert ds.class_names == ["cat", "dog", "emu"]
    assert ds.item_names[:2] == ["cat/img00.png", "cat/img01.png"] and len(ds) == 12
    assert ds.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    grey = ds.load([0])[0]
    assert grey.shape == (3, 6, 6)
    np.testing.assert_array_equal(grey[0], grey[1])


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        create_dataset("folder", root=str(tmp_path / "missing"))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        create_dataset("folder", root=str(tmp_path / "empty"))


def test_csv_manifest_with_roles(tmp_path):
    rows = [
        ("images/dog/img01.png", "dog", "query"),
        ("images/cat/img02.png", "cat", "gallery"),
        ("images/cat/img00.png", "cat", ""),
    ]
    ds = create_dataset("csv", path=str(write_csv(tmp_path, rows)), size=5)
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [1, 0, 0]
    assert list(ds.roles) == ["query", "gallery", ""] and ds.load([0, 2]).shape == (2, 3, 5, 5)


@pytest.mark.parametrize(
    "rows, header, message",
    [
        ([("images/cat/nope.png", "cat", "train")], "path,label,role", "not found"),
        ([("images/cat/img00.png", "cat", "test")], "path,label,role", "unknown role"),
        ([("images/cat/img00.png", "cat")], "file,label", "path,label"),
    ],
)
def test_csv_errors_are_clear(tmp_path, rows, header, message):
    with pytest.raises(DatasetError, match=message):
        create_dataset("csv", path=str(write_csv(tmp_path, rows, header)))


@pytest.mark.parametrize("name, files", [("cifar10", "cifar-10-batches-py"), ("mnist", "MNIST")])
def test_torchvision_offline_without_download_says_where_to_put_files(tmp_path, name, files):
    with pytest.raises(DatasetError) as info:
        create_dataset(name, root=str(tmp_path / "data"), download=False)
    assert str(tmp_path / "data") in str(info.value) and files in str(info.value)


def test_torchvision_failed_download_becomes_a_dataset_error(tmp_path, monkeypatch):
    import plugins.datasets.torchvision_sets as tv

    calls = []

    def offline(name, root, train):
        calls.append(root)
        raise OSError("network is unreachable")

    monkeypatch.setattr(tv, "fetch", offline)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="could not be downloaded .*network is unreachable.*cifar-100-python"):
        create_dataset("cifar100")
    assert calls == [tmp_path / "cache"]
