"""``folder``: an image folder with one sub-folder per class (torchvision's ImageFolder layout).

    root/cat/001.png, root/cat/002.jpg, root/dog/xyz.png ...

Classes are the sorted sub-folder names; items are the sorted relative paths (their stable
names). Images are read lazily with PIL and resized to ``size``.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness import DatasetError, FileDataset, hookimpl, is_image_file

MAX_ENTRIES = 2_000_000  # files looked at: a root like / or ~ is refused, not walked for hours


def folder(root: str, size: int = 64) -> FileDataset:
    """An ImageFolder-style tree: one sub-folder per class, read lazily and resized to ``size``."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DatasetError(f"image folder {base} does not exist (expected one sub-folder per class)")
    if base.resolve() == Path(base.resolve().anchor):
        raise DatasetError(f"image folder {base} is the root of a file system; give the folder of the class folders")
    try:
        classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"cannot list image folder {base}: {exc.strerror or exc}") from None
    paths, labels, seen = [], [], 0
    for label, name in enumerate(classes):
        files = []
        for path in _walk(base / name):
            seen += 1
            if seen > MAX_ENTRIES:
                raise DatasetError(f"image folder {base} holds more than {MAX_ENTRIES:,} files; is it the right root?")
            if is_image_file(path):
                files.append(path)
        paths += sorted(files)
        labels += [label] * len(files)
    if not paths:
        raise DatasetError(f"no images found under {base} (expected {base}/<class>/<image>.png)")
    names = [p.relative_to(base).as_posix() for p in paths]
    return FileDataset(paths, labels, names, classes, size=size)


def _walk(top: Path):
    """Every file under ``top`` in a stable order; a folder that cannot be read is an error, not a traceback."""

    def refuse(exc: OSError):
        raise DatasetError(f"cannot read {exc.filename}: {exc.strerror or exc}")

    for folder, folders, files in os.walk(top, onerror=refuse):
        folders.sort()
        yield from (Path(folder) / name for name in sorted(files))


@hookimpl
def register_datasets(register):
    register("folder", folder, description="an image folder, one sub-folder per class, read lazily")
