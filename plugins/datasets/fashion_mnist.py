"""``fashion-mnist``: Zalando's 70,000 28x28 grey product photos, 10 classes, read from idx files; never downloads.

The four files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each gzipped or not) are looked for, in order, in ``$BENCH_DATA_DIR``,
``<workspace>/data`` (each also as ``fashion-mnist/`` and in torchvision's ``FashionMNIST/raw/``), then in
Debian's ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``). Items are the
train file's 60,000 then t10k's 10,000, named ``fm-00000`` ... ``fm-69999`` by that position; the
pixels stay uint8 (1 byte each) and become float only one batch at a time.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from harness import ArrayDataset, DatasetError, data_folders, hookimpl

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
PARTS = ("train", "t10k")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# idx magic numbers: two zero bytes, 0x08 (unsigned byte), then the number of dimensions
IMAGES_MAGIC, LABELS_MAGIC = 0x0803, 0x0801


def candidate_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """Where the files are looked for, in order."""
    if root is not None:
        bases = [Path(root).expanduser()]
    else:
        bases = data_folders()
    folders = [f for base in bases for f in (base, base / "fashion-mnist", base / "FashionMNIST" / "raw")]
    return folders if root is not None else [*folders, DEBIAN_DIR]


def file_names(part: str) -> tuple[str, str]:
    return f"{part}-images-idx3-ubyte", f"{part}-labels-idx1-ubyte"


def find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_files(root=None) -> dict[str, Path]:
    """The four files from the first folder holding all of them; else a DatasetError naming every folder."""
    folders = candidate_folders(root)
    names = [name for part in PARTS for name in file_names(part)]
    for folder in folders:
        found = {name: find_file(folder, name) for name in names}
        if all(found.values()):
            return found  # type: ignore[return-value]
    searched = ", ".join(str(f) for f in folders)
    raise DatasetError(
        f"Fashion-MNIST's idx files ({', '.join(names)}, gzipped or not) are in none of: {searched}; "
        f"install Debian's package {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE}) or put them in $BENCH_DATA_DIR"
    )


def read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """An idx file's uint8 array, its header checked: magic number, dimensions and size."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    dims = magic & 0xFF
    header = 4 + 4 * dims
    found_magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found_magic != magic:
        raise DatasetError(
            f"{path} is not an idx file of {dims}-d unsigned bytes (magic {found_magic!r}, want {magic})"
        )
    sizes = tuple(int(s) for s in np.frombuffer(data[4:header], dtype=">u4"))
    if len(sizes) != dims or sizes[1:] != shape or len(data) != header + int(np.prod(sizes)):
        expected = "(n, " + ", ".join(map(str, shape)) + ")" if shape else "(n,)"
        raise DatasetError(
            f"{path} is corrupt or truncated: its header says {sizes} and {len(data) - header} bytes follow; "
            f"expected {expected} unsigned bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(sizes)


def read_part(files: dict[str, Path], part: str) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = file_names(part)
    images = read_idx(files[images_name], IMAGES_MAGIC, (28, 28))
    labels = read_idx(files[labels_name], LABELS_MAGIC, ())
    if len(images) != len(labels):
        raise DatasetError(
            f"{files[images_name]} holds {len(images)} images but {files[labels_name]} {len(labels)} labels"
        )
    if labels.size and labels.max() >= len(CLASSES):
        raise DatasetError(f"{files[labels_name]} has label {labels.max()}; Fashion-MNIST's lie in 0..9")
    return images, labels.astype(np.int64)


def fashion_mnist(root: str | None = None) -> ArrayDataset:
    """Zalando's Fashion-MNIST (train then t10k: 70,000 items), from idx files found locally; never downloads."""
    files = find_files(root)
    images, labels = zip(*(read_part(files, part) for part in PARTS))
    pixels = np.concatenate(images)[:, None]  # (n, 1, 28, 28) uint8: grey, at its own size
    names = [f"fm-{i:05d}" for i in range(len(pixels))]
    dataset = ArrayDataset(pixels, np.concatenate(labels), names, CLASSES)
    dataset.id_prefix = "fm"  # short item ids keep submissions small (a default run writes 100 per query)
    return dataset


@hookimpl
def register_datasets(register):
    register(
        "fashion-mnist",
        fashion_mnist,
        description=f"Zalando's Fashion-MNIST, 70,000 28x28 grey photos, 10 classes (apt: {DEBIAN_PACKAGE})",
    )
