"""``cifar10``, ``cifar100``, ``mnist`` through torchvision (``fashion-mnist`` has its own idx reader).

Files live in ``root`` (default ``$BENCH_DATA_DIR``, else ``<workspace>/data``). Existing files
are used as they are; when they are missing and ``download`` is true, one download is tried with
a short socket timeout, and any failure (offline, blocked, corrupt) becomes a DatasetError that
says where to put the files. Items are the train split then the test split (``split="all"``).
"""

from __future__ import annotations

import contextlib
import io
import socket
from pathlib import Path

import numpy as np

from harness import ArrayDataset, DatasetError, default_data_dir, hookimpl

DOWNLOAD_TIMEOUT_S = 15.0
# name -> (torchvision class, folder it keeps under root, what goes there)
SOURCES = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "the extracted cifar-10-python.tar.gz"),
    "cifar100": ("CIFAR100", "cifar-100-python", "the extracted cifar-100-python.tar.gz"),
    "mnist": ("MNIST", "MNIST/raw", "train-images-idx3-ubyte etc."),
}


def _class(name: str):
    import torchvision.datasets

    return getattr(torchvision.datasets, SOURCES[name][0])


def fetch(name: str, root: Path, train: bool):
    """Download one split (the only place bench touches the network for datasets)."""
    cls = _class(name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cls(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _open_split(name: str, root: Path, train: bool, download: bool):
    _, folder, what = SOURCES[name]
    where = f"put the files in {root / folder}/ ({what})"
    if (root / folder).exists():
        try:
            return _class(name)(str(root), train=train, download=False)
        except (RuntimeError, OSError) as exc:
            if not download:
                raise DatasetError(
                    f"dataset {name!r} in {root / folder} is incomplete or corrupt ({exc}): {where}"
                ) from None
    elif not download:
        raise DatasetError(f"dataset {name!r} is not in {root} and download is disabled: {where}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        return fetch(name, root, train)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:200]
        raise DatasetError(
            f"dataset {name!r} is not in {root} and could not be downloaded ({reason}): "
            f"{where}, or run again with network access"
        ) from None


def _build(name: str, root: str | None, download: bool, split: str) -> ArrayDataset:
    if split not in ("all", "train", "test"):
        raise DatasetError(f"split must be 'all', 'train' or 'test', got {split!r}")
    folder = Path(root).expanduser() if root else default_data_dir()
    parts = [p for p in ("train", "test") if split in ("all", p)]
    images, labels, names, classes = [], [], [], []
    for part in parts:
        ds = _open_split(name, folder, part == "train", download)
        data = np.asarray(ds.data)
        images.append(data)
        labels.append(np.asarray(ds.targets, dtype=np.int64))
        names += [f"{part}/{i:05d}" for i in range(len(data))]
        classes = list(ds.classes)
    dataset = ArrayDataset(np.concatenate(images), np.concatenate(labels), names, classes)
    dataset.photos = name.startswith("cifar")  # a flipped or cropped digit may change class
    return dataset


def _factory(name: str):
    def factory(root: str | None = None, download: bool = True, split: str = "all") -> ArrayDataset:
        return _build(name, root, download, split)

    factory.__doc__ = f"torchvision's {name} (train then test), downloaded into root when online."
    factory.__name__ = name.replace("-", "_")
    return factory


@hookimpl
def register_datasets(register):
    for name in SOURCES:
        register(name, _factory(name), description=f"torchvision {name}; files in $BENCH_DATA_DIR or <workspace>/data")
