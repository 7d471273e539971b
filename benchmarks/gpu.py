"""One check of bench on a CUDA machine: each check prints its numbers next to a baseline measured in the same run.

    python benchmarks/gpu.py [--search-queries 10000] [--search-gallery 1000000] [--steps 20]

1. ``bench run --plugin hashnet`` end to end on digits, on the GPU (public score and seconds);
2. a timm resnet50 training step in bench's loop (``build_parts`` + ``train_one_epoch``: mixed precision,
   channels-last) against a plain PyTorch loop on the same model, data and batch: images/s and their ratio;
3. exact inner-product search, 10,000 queries x 1,000,000 gallery vectors: bench's ``exact`` indexer on the
   GPU (``indexer.device=cuda``: blocked matmul + top-k) against faiss-cpu's ``IndexFlatIP``: seconds,
   speed-up, and how many neighbours agree;
4. with two or more GPUs, ``bench run --plugin hashnet --nproc 2``: DDP over nccl, exactly one leaderboard row.

Exits 1 if any check fails, 0 otherwise. Without CUDA it says so and exits 0. Every function takes its
device, so that the tests run the same code on the CPU with small sizes (tests/test_gpu_benchmark.py).
The GPU search is this script's own torch code: the indexers' own GPU path (``indexer.device``) is
timed by benchmarks/search.py once it exists.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
MIN_HASHNET_PUBLIC = 0.85


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- 1. hashnet end to end -------------------------------------------------------------------------
def hashnet_end_to_end(root: Path, device: str, sets: list[str] | None = None) -> dict[str, float]:
    """``bench run --plugin hashnet`` through the library, in workspace ``root``; its public score and time."""
    from harness.pipeline import RunRequest, resolve_run_config, run
    from harness.workspace import Workspace

    started = time.perf_counter()
    result = run(Workspace(root), RunRequest(resolve_run_config("hashnet", sets=sets or [], device=device)))
    return {"public": float(result.row["public"]), "seconds": time.perf_counter() - started}


# -- 2. training loop: bench against plain PyTorch -------------------------------------------------
def synthetic_dataset(n: int, size: int, classes: int, seed: int = 0):
    """``n`` random RGB images of ``size`` pixels as a train split (what ``competition.train()`` returns)."""
    from harness.data.competition import LabeledImages
    from harness.data.datasets import to_chw_float

    images = np.random.default_rng(seed).integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)
    labels = np.arange(n) % classes
    ids = [f"i{i}" for i in range(n)]
    return LabeledImages(
        ids, (3, size, size), np.arange(n), lambda i: to_chw_float(images[i]), labels, list(range(classes))
    )


def training_config(model: str, batch: int, device: str):
    from harness.pipeline import resolve_run_config

    sets = {
        "backbone.name": "timm",
        "backbone.model": model,
        "train.batch_size": batch,
        "train.amp": True,
        "train.channels_last": True,
        "train.deterministic": False,
        "train.threads": 0,
    }
    return resolve_run_config("softmax", sets=sets, device=device)


def bench_images_per_second(cfg, train, device: torch.device) -> float:
    """Images/s of bench's own training epoch (the second one: the first warms up kernels and caches)."""
    from harness.train.loop import build_parts, train_one_epoch

    torch.manual_seed(0)
    parts = build_parts(cfg.with_seed(0), train, device)
    train_one_epoch(parts, train, cfg, device, None, "warm-up")
    synchronize(device)
    started = time.perf_counter()
    train_one_epoch(parts, train, cfg, device, None, "timed")
    synchronize(device)
    return len(parts.sampler) * cfg.train.batch_size / (time.perf_counter() - started)


def plain_images_per_second(cfg, train, device: torch.device) -> float:
    """The same model, loss, optimiser, precision and memory format in a loop of plain PyTorch."""
    from harness.components import create_loss
    from harness.train.devices import autocast, grad_scaler, memory_format
    from harness.train.model import build_model

    tc = cfg.train
    fmt = memory_format(tc.channels_last)
    torch.manual_seed(0)
    model = build_model(cfg.components, train.num_classes, device).to(device, memory_format=fmt)
    loss_fn = create_loss("softmax", num_classes=train.num_classes, in_dim=model.out_dim).to(device)
    params = [*model.parameters(), *loss_fn.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scaler = grad_scaler(device, tc.amp)
    images = torch.from_numpy(train.load(np.arange(len(train))))
    labels = torch.from_numpy(np.asarray(train.labels))
    batch = tc.batch_size
    steps = len(images) // batch

    def epoch() -> None:
        order = torch.randperm(len(images))
        for step in range(steps):
            idx = order[step * batch : (step + 1) * batch]
            x = images[idx].to(device, non_blocking=True, memory_format=fmt)
            with autocast(device, tc.amp):
                embeddings = model(x)
            loss = loss_fn(embeddings.float(), labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    model.train()
    epoch()
    synchronize(device)
    started = time.perf_counter()
    epoch()
    synchronize(device)
    return steps * batch / (time.perf_counter() - started)


def training_throughput(device: str, model: str = "resnet50", batch: int = 64, steps: int = 20, size: int = 224):
    from harness.train.devices import deterministic

    cfg = training_config(model, batch, device)
    train = synthetic_dataset(batch * steps, size, classes=batch // 4)
    torch_device = torch.device(device)
    with deterministic(torch_device, enabled=cfg.train.deterministic):  # the fast kernels, for both loops
        bench = bench_images_per_second(cfg, train, torch_device)
        plain = plain_images_per_second(cfg, train, torch_device)
    return {"bench_images_per_s": bench, "plain_images_per_s": plain, "ratio": bench / plain}


# -- 3. exact search -------------------------------------------------------------------------------
def torch_exact_search(queries: np.ndarray, gallery: np.ndarray, k: int, device: str, block: int = 1024):
    """bench's own ``exact`` indexer on ``device`` (on CUDA: blocked matmul + top-k in torch, ties by
    gallery position; the same torch path runs on the CPU in tests/test_indexers.py): (scores, indices)."""
    from harness.components import create_indexer

    index = create_indexer("exact", metric="inner_product", device=device, query_block=block)
    scores, indices = index.build(gallery).search(queries, k)
    synchronize(torch.device(device))
    return scores, indices


def search_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_search_speed(device: str, n_queries: int = 10_000, n_gallery: int = 1_000_000, dim: int = 128, k: int = 100):
    import faiss

    queries, gallery = search_vectors(n_queries, dim, 0), search_vectors(n_gallery, dim, 1)
    torch_exact_search(queries[:8], gallery[: max(k, 8)], k=min(k, 8), device=device)  # start the device
    started = time.perf_counter()
    _, ours = torch_exact_search(queries, gallery, k, device)
    ours_s = time.perf_counter() - started
    index = faiss.IndexFlatIP(dim)
    index.add(gallery)
    started = time.perf_counter()
    _, theirs = index.search(queries, k)
    faiss_s = time.perf_counter() - started
    agree = np.mean([len(set(a) & set(b)) / k for a, b in zip(ours.tolist(), theirs.tolist(), strict=True)])
    return {"seconds": ours_s, "faiss_cpu_seconds": faiss_s, "speedup": faiss_s / ours_s, "agreement": float(agree)}


# -- 4. DDP through bench run --nproc --------------------------------------------------------------
def ddp_job(root: Path, device: str, nproc: int = 2, sets: list[str] | None = None) -> dict[str, float]:
    """``bench run --plugin hashnet --nproc N``: exit code 0 and exactly one new leaderboard row."""
    from harness.scoring.leaderboard import read_rows
    from harness.workspace import Workspace

    command = [sys.executable, "-m", "harness.cli", "--root", str(root), "run", "--plugin", "hashnet", "-q"]
    command += ["--nproc", str(nproc), "--device", device]
    for item in sets or []:
        command += ["--set", item]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"bench run --nproc {nproc} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    rows = read_rows(Workspace(root).leaderboard_path("digits"))
    if len(rows) != 1:
        raise RuntimeError(f"bench run --nproc {nproc} left {len(rows)} leaderboard rows, not 1")
    return {"public": float(rows[0]["public"]), "seconds": seconds}


# -- the checks ------------------------------------------------------------------------------------
def run_checks(args: argparse.Namespace) -> int:
    name = torch.cuda.get_device_name(0)
    print(
        f"GPU: {name} ({torch.cuda.device_count()} device(s)), torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    failures = 0

    def check(title: str, body: Callable[[], str]) -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            line = body()
            print(f"ok    {title}: {line}  ({time.perf_counter() - started:.1f} s)")
        except Exception as exc:
            failures += 1
            print(f"FAIL  {title}: {type(exc).__name__}: {exc}")

    def hashnet() -> str:
        with tempfile.TemporaryDirectory() as root:
            result = hashnet_end_to_end(Path(root), "cuda")
        if result["public"] < MIN_HASHNET_PUBLIC:
            raise RuntimeError(f"public {result['public']:.4f} is below {MIN_HASHNET_PUBLIC}")
        return f"public {result['public']:.4f} in {result['seconds']:.1f} s"

    def training() -> str:
        r = training_throughput("cuda", args.model, args.batch, args.steps, args.image_size)
        return (
            f"bench {r['bench_images_per_s']:.0f} images/s, plain PyTorch {r['plain_images_per_s']:.0f} images/s, "
            f"ratio {r['ratio']:.2f}"
        )

    def search() -> str:
        r = exact_search_speed("cuda", args.search_queries, args.search_gallery)
        if r["agreement"] < 0.99:
            raise RuntimeError(f"only {r['agreement']:.3f} of the GPU's neighbours agree with faiss-cpu")
        return (
            f"GPU {r['seconds']:.2f} s, faiss-cpu {r['faiss_cpu_seconds']:.2f} s, speed-up {r['speedup']:.1f}x, "
            f"agreement {r['agreement']:.4f}"
        )

    def ddp() -> str:
        with tempfile.TemporaryDirectory() as root:
            r = ddp_job(Path(root), "cuda")
        return f"one row, public {r['public']:.4f}, {r['seconds']:.1f} s"

    check("hashnet end to end on digits", hashnet)
    check(f"timm {args.model} training, bench loop vs plain loop", training)
    check(f"exact search {args.search_queries:,} x {args.search_gallery:,}, GPU vs faiss-cpu", search)
    if torch.cuda.device_count() >= 2:
        check("bench run --nproc 2 (DDP, nccl)", ddp)
    else:
        print("skip  bench run --nproc 2: one GPU here (needs two)")
    print(f"{failures} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", help="timm model of the training check")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per loop")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--search-queries", type=int, default=10_000)
    parser.add_argument("--search-gallery", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device here: benchmarks/gpu.py checks nothing on this machine (run it where there is a GPU)")
        return 0
    return run_checks(args)


if __name__ == "__main__":
    sys.exit(main())
