"""Image loading speed: bench's file loader against a plain torchvision ImageFolder + DataLoader loop.

    python benchmarks/loader.py [--images 20000] [--size 32] [--workers 2] [--folder DIR]

Both read the same folder of small PNGs (ImageFolder layout, written once into --folder or a
temporary folder), decode them with PIL, convert to RGB, resize to --size and hand float32
(batch, 3, H, W) tensors to the caller, with the same batch size and number of worker processes.
bench's side is what training and embedding use: ``load_batches`` over a ``folder`` dataset.
Goal: bench >= 0.95x the plain loop. Each loader runs --repeats times, interleaved; the best
time of each is compared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_pngs(root: Path, n: int, size: int, classes: int = 10) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    if len(list(root.glob("*/*.png"))) == n:
        return
    for i in range(n):
        folder = root / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.png")


def bench_loader(root: Path, size: int, batch: int, workers: int) -> float:
    from harness.data.competition import Images
    from harness.train.embed import load_batches
    from plugins.datasets.folder import folder

    dataset = folder(str(root), size=size)
    n = len(dataset.paths)
    images = Images(dataset.item_names, dataset.image_shape, np.arange(n), dataset.pixels())
    batches = [np.arange(s, min(s + batch, n)) for s in range(0, n, batch)]
    import torch

    start = time.perf_counter()
    seen = 0
    for _, pixels in load_batches(images, batches, workers):
        seen += len(torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)))
    assert seen == n
    return time.perf_counter() - start


def torchvision_loop(root: Path, size: int, batch: int, workers: int) -> float:
    import torch
    from torchvision import datasets, transforms

    dataset = datasets.ImageFolder(str(root), transform=transforms.Compose([transforms.Resize((size, size)),
                                                                             transforms.ToTensor()]))  # fmt: skip
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers, shuffle=False)
    start = time.perf_counter()
    seen = 0
    for images, _ in loader:
        seen += len(images)
    assert seen == len(dataset)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=None, help="where the PNGs are written (kept for reuse)")
    args = parser.parse_args()
    root = args.folder or Path(tempfile.gettempdir()) / f"bench-loader-{args.images}-{args.size}"
    start = time.perf_counter()
    write_pngs(root, args.images, args.size)
    print(f"{args.images:,} PNGs of {args.size}x{args.size} in {root} ({time.perf_counter() - start:.1f} s to prepare)")
    times = {"torchvision ImageFolder + DataLoader": [], "bench load_batches (folder dataset)": []}
    for _ in range(args.repeats):
        times["torchvision ImageFolder + DataLoader"].append(
            torchvision_loop(root, args.size, args.batch, args.workers)
        )
        times["bench load_batches (folder dataset)"].append(bench_loader(root, args.size, args.batch, args.workers))
    base = min(times["torchvision ImageFolder + DataLoader"])
    print(f"batch {args.batch}, {args.workers} worker process(es), best of {args.repeats}")
    print(f"{'loader':<40} {'seconds':>8} {'images/s':>10} {'vs plain':>9}")
    for name, runs in times.items():
        best = min(runs)
        print(f"{name:<40} {best:>8.2f} {args.images / best:>10,.0f} {base / best:>8.2f}x")


if __name__ == "__main__":
    main()
