"""``csv``: images listed in a CSV file with columns ``path,label`` and optionally ``role``.

Paths are relative to the CSV file's folder. Labels are class names (or numbers); classes are
sorted (numerically when every label is an integer). A ``role`` column (train, val, query,
gallery, or empty) fixes the split: use it with the ``given`` protocol.
"""

from __future__ import annotations

import csv
from pathlib import Path

from harness import DatasetError, FileDataset, hookimpl

ROLES = ("train", "val", "query", "gallery", "")


def _class_order(labels: list[str]) -> list[str]:
    unique = sorted(set(labels))
    if all(lab.lstrip("-").isdigit() for lab in unique):
        return sorted(unique, key=int)
    return unique


def csv_dataset(path: str, size: int = 64) -> FileDataset:
    """Images listed in a CSV (path,label[,role]) relative to its folder, read lazily."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DatasetError(f"CSV manifest {file} does not exist")
    try:
        with file.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            fields = set(rows[0]) if rows else set()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {file}: {exc}") from None
    if not {"path", "label"} <= fields:
        raise DatasetError(f"{file} needs a header with columns path,label (and optionally role)")
    names = [row["path"].strip() for row in rows]
    raw_labels = [row["label"].strip() for row in rows]
    classes = _class_order(raw_labels)
    index = {name: i for i, name in enumerate(classes)}
    roles = None
    if "role" in fields:
        roles = [(row.get("role") or "").strip() for row in rows]
        bad = sorted({r for r in roles if r not in ROLES})
        if bad:
            raise DatasetError(f"{file}: unknown role(s) {', '.join(bad)}; use train, val, query, gallery or empty")
    missing = [n for n in names if not (file.parent / n).is_file()]
    if missing:
        raise DatasetError(f"{file}: {len(missing)} listed image(s) not found, e.g. {missing[0]}")
    paths = [file.parent / n for n in names]
    return FileDataset(paths, [index[lab] for lab in raw_labels], names, classes, size=size, roles=roles)


@hookimpl
def register_datasets(register):
    register("csv", csv_dataset, description="images listed in a CSV file (path,label[,role]), read lazily")
