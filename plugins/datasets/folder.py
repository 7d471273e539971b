"""``folder``: an image folder with one sub-folder per class (torchvision's ImageFolder layout).

    root/cat/001.png, root/cat/002.jpg, root/dog/xyz.png ...

Classes are the sorted sub-folder names; items are the sorted relative paths (their stable
names). Images are read lazily with PIL and resized to ``size``.
"""

from __future__ import annotations

from pathlib import Path

from harness import DatasetError, FileDataset, hookimpl, is_image_file


def folder(root: str, size: int = 64) -> FileDataset:
    """An ImageFolder-style tree: one sub-folder per class, read lazily and resized to ``size``."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DatasetError(f"image folder {base} does not exist (expected one sub-folder per class)")
    classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (base / name).rglob("*") if is_image_file(p))
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DatasetError(f"no images found under {base} (expected {base}/<class>/<image>.png)")
    names = [p.relative_to(base).as_posix() for p in paths]
    return FileDataset(paths, labels, names, classes, size=size)


@hookimpl
def register_datasets(register):
    register("folder", folder, description="an image folder, one sub-folder per class, read lazily")
