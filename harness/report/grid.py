"""The grid of queries and their neighbours, framed green (right) or red (wrong).

The cells are composed into one RGB array first (frames are pixels, so they can be checked) and
drawn with nearest-neighbour interpolation, so small images such as 8x8 digits stay sharp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.report.figures import DPI, RIGHT, WRONG, Figure, save

QUERY = (31, 119, 180)  # frame of the query itself
BLANK = (235, 235, 235)  # a slot the submission left empty
CELL = 64  # display size of one image, in pixels
BORDER = 4  # frame width, in pixels
GAP = 4  # space between cells, in pixels
MAX_ROWS, MAX_COLS = 8, 10


@dataclass
class GridResult:
    """What ``neighbour_grid`` drew: per neighbour cell 'right', 'wrong' or 'missing', the picture
    itself as an array, each framed cell's box (y0, x0, y1, x1) in that array, and the row labels."""

    path: Path
    colours: list[list[str]]
    mosaic: np.ndarray
    boxes: dict[tuple[int, int], tuple[int, int, int, int]] = field(default_factory=dict)
    row_labels: list[str] = field(default_factory=list)


def fit_cell(image: np.ndarray, size: int = CELL) -> np.ndarray:
    """One ``(3, H, W)`` float image in [0, 1] -> ``(size, size, 3)`` uint8, centred on white.

    Small images grow by an integer factor with no blur (8x8 digits become 64x64 blocks);
    large ones shrink to fit with a Lanczos filter.
    """
    img = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    img = (np.transpose(img, (1, 2, 0)) * 255.0 + 0.5).astype(np.uint8)
    h, w = img.shape[:2]
    if max(h, w) <= size:
        factor = max(size // max(h, w), 1)
        img = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
    else:
        from PIL import Image

        scale = size / max(h, w)
        new = (max(round(w * scale), 1), max(round(h * scale), 1))
        img = np.asarray(Image.fromarray(img).resize(new, Image.Resampling.LANCZOS))
    out = np.full((size, size, 3), 255, dtype=np.uint8)
    y, x = (size - img.shape[0]) // 2, (size - img.shape[1]) // 2
    out[y : y + img.shape[0], x : x + img.shape[1]] = img
    return out


def neighbour_grid(
    path: Path,
    queries: np.ndarray,
    neighbours: np.ndarray,
    correct: np.ndarray,
    present: np.ndarray | None = None,
    row_labels: list[str] | None = None,
) -> GridResult:
    """Each query (row) followed by its top neighbours, framed green when right and red when wrong.

    ``queries`` (R, 3, H, W); ``neighbours`` (R, C, 3, H, W); ``correct`` and ``present`` (R, C) bool.
    At most 8 rows and 10 neighbours are drawn.
    """
    rows, cols = min(len(queries), MAX_ROWS), min(neighbours.shape[1] if neighbours.ndim > 1 else 0, MAX_COLS)
    present = np.ones(correct.shape, bool) if present is None else np.asarray(present, bool)
    step = CELL + 2 * BORDER + GAP
    height, width = max(rows, 1) * step + GAP, (cols + 1) * step + 3 * GAP + GAP
    mosaic = np.full((height, width, 3), 255, dtype=np.uint8)
    colours: list[list[str]] = []
    boxes: dict[tuple[int, int], tuple[int, int, int, int]] = {}

    def put(r: int, c: int, image: np.ndarray | None, colour: tuple[int, int, int]) -> None:
        y0 = GAP + r * step
        x0 = GAP + c * step + (3 * GAP if c > 0 else 0)
        y1, x1 = y0 + CELL + 2 * BORDER, x0 + CELL + 2 * BORDER
        mosaic[y0:y1, x0:x1] = colour
        inner = fit_cell(image) if image is not None else np.full((CELL, CELL, 3), BLANK, np.uint8)
        mosaic[y0 + BORDER : y1 - BORDER, x0 + BORDER : x1 - BORDER] = inner
        boxes[(r, c)] = (y0, x0, y1, x1)

    for r in range(rows):
        put(r, 0, queries[r], QUERY)
        row = []
        for c in range(cols):
            if not present[r, c]:
                put(r, c + 1, None, BLANK)
                row.append("missing")
            else:
                ok = bool(correct[r, c])
                put(r, c + 1, neighbours[r, c], RIGHT if ok else WRONG)
                row.append("right" if ok else "wrong")
        colours.append(row)

    fig = Figure(figsize=(width / DPI + 2.2, height / DPI + 0.7), dpi=DPI)
    ax = fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    centre = BORDER + CELL / 2
    xs = [GAP + c * step + (3 * GAP if c > 0 else 0) + centre for c in range(cols + 1)]
    ax.set_xticks(xs, ["query"] + [str(c + 1) for c in range(cols)])
    ax.xaxis.tick_top()
    labels = list(row_labels or [])[:rows] + [""] * max(rows - len(row_labels or []), 0)
    ax.set_yticks([GAP + r * step + centre for r in range(rows)], labels, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    save(fig, path)
    return GridResult(Path(path), colours, mosaic, boxes, labels)
