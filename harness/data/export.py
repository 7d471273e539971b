"""What a participant downloads, as a Kaggle data tab offers it (``bench competitions export NAME DIR``).

::

    DIR/train/<item_id>.png   DIR/val/<item_id>.png      images with labels (in labels.csv)
    DIR/query/<item_id>.png   DIR/gallery/<item_id>.png  images without labels: the test set
    DIR/labels.csv            item_id, role, label, class_name (train and val only)
    DIR/arrays.npz            <role>_ids and <role>_images (uint8, N x H x W, or N x H x W x 3 in colour)
    DIR/sample_submission.csv one valid (and poor) submission: every query, the first k gallery ids
    DIR/data.json             sizes, metric, k, image shape and how to submit

Query and gallery labels are the answers: nothing here holds them, nor the public/private split.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import write_atomic
from harness.data.competition import Competition, Images, open_competition
from harness.errors import WorkspaceError
from harness.workspace import Workspace

ROLES = ("train", "val", "query", "gallery")
LABELED = ("train", "val")
BATCH = 4096


def export_competition(workspace: Workspace, name: str, out: Path) -> dict[str, Any]:
    """Write competition ``name``'s participant data into folder ``out`` (created; must be empty if it
    exists); returns the data description also written as ``data.json``."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise WorkspaceError(f"{out} exists and is not an empty folder; export into a new folder")
    competition = open_competition(workspace, name)
    arrays: dict[str, np.ndarray] = {}
    label_rows: list[list[Any]] = []
    for role in ROLES:
        images = getattr(competition, role)()
        pixels = _uint8(images)
        arrays[f"{role}_ids"] = np.asarray(images.ids, dtype=str)
        arrays[f"{role}_images"] = pixels
        _write_pngs(out / role, images.ids, pixels)
        if role in LABELED:
            names = images.class_names
            label_rows += [[i, role, int(c), names[c]] for i, c in zip(images.ids, images.labels.tolist())]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(out / "arrays.npz", buffer.getvalue())
    write_atomic(out / "labels.csv", _csv(["item_id", "role", "label", "class_name"], label_rows))
    k = competition.spec.k
    gallery_head = " ".join(arrays["gallery_ids"][:k].tolist())
    sample = [[q, gallery_head] for q in arrays["query_ids"].tolist()]
    write_atomic(out / "sample_submission.csv", _csv(["query_id", "neighbors"], sample))
    description = describe_data(competition, arrays["query_images"].shape[1:])
    write_atomic(out / "data.json", (json.dumps(description, indent=2) + "\n").encode("utf-8"))
    return description


def describe_data(competition: Competition, image_shape: tuple[int, ...]) -> dict[str, Any]:
    spec = competition.spec
    return {
        "competition": spec.name,
        "description": spec.description,
        "sizes": competition.sizes,
        "image_shape": list(image_shape),
        "classes": len(competition.train().class_names),
        "metric": spec.metric_label,
        "k": spec.k,
        "files": {
            "train/, val/, query/, gallery/": "one PNG per item, named <item_id>.png",
            "labels.csv": "item_id, role, label, class_name for train and val (query and gallery labels are hidden)",
            "arrays.npz": "<role>_ids and <role>_images (uint8) for each role, in the same order",
            "sample_submission.csv": "a valid submission: every query with the first k gallery ids",
        },
        "how_to_submit": (
            f"A CSV with a header 'query_id,neighbors' and one row per query: the query's id, then up to {spec.k} "
            "gallery ids separated by spaces, best first. Queries left out score 0. Upload it on the "
            f"competition's page, or run: BENCH_TOKEN=<token> bench submit FILE --competition {spec.name} --server URL"
        ),
    }


def _uint8(images: Images) -> np.ndarray:
    """The set's pixels as uint8, channels last; one channel when the image is grey (all three equal)."""
    parts = [np.rint(batch * 255.0).clip(0, 255).astype(np.uint8) for batch in images.batches(BATCH)]
    shape = (0, *images.image_shape)
    chw = np.concatenate(parts) if parts else np.zeros(shape, dtype=np.uint8)
    hwc = np.ascontiguousarray(chw.transpose(0, 2, 3, 1))
    grey = hwc.shape[-1] == 3 and np.array_equal(hwc[..., 0], hwc[..., 1]) and np.array_equal(hwc[..., 0], hwc[..., 2])
    return hwc[..., 0] if grey or hwc.shape[-1] == 1 else hwc


def _write_pngs(folder: Path, ids: list[str], pixels: np.ndarray) -> None:
    from PIL import Image  # Pillow: matplotlib's own dependency

    folder.mkdir(parents=True, exist_ok=True)
    for item, image in zip(ids, pixels):
        Image.fromarray(image).save(folder / f"{item}.png", format="PNG", optimize=False)


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")
