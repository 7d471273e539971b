"""bench on a GPU: each check prints its numbers next to a baseline measured in the same run.

    PYTHONPATH=. python benchmarks/gpu.py [--device cuda|cpu] [--quick] [--search-queries 10000] ...

1. ``bench run --plugin hashnet`` end to end on digits (public score and seconds);
2. the small CNN on 42,000 generated 1x28x28 uint8 images (Fashion-MNIST's train size): bench's loop
   (``build_parts`` + ``train_one_epoch`` on the resident set) against a plain PyTorch loop at the same
   settings (data on the device, ``randperm`` batches), images/s and their ratio: at batch 32 (the methods'
   default), at ``train.batch_size=auto``, and with ``train.compile`` (true and reduce-overhead: CUDA graphs)
   and channels-last off, so that each setting's default is chosen by measurement;
3. a timm resnet50 training step, bench's loop against the plain loop (mixed precision, channels-last);
4. exact inner-product search, 10,000 queries x 1,000,000 gallery vectors: bench's ``exact`` indexer on the
   GPU against faiss-cpu's ``IndexFlatIP``: seconds, speed-up, and how many neighbours agree;
5. ``bench run`` end to end on ``fashion-mnist`` for hashnet, triplet and softmax, at the methods' defaults and
   at ``train.batch_size=auto``: train seconds, total seconds, public score (skipped, with the reason, where
   the competition or its data is absent);
6. with two or more GPUs, ``bench run --plugin hashnet --nproc 2``: DDP over nccl, exactly one leaderboard row.

Exits 1 if any check fails, 0 otherwise. Without CUDA (and no ``--device``) it says so and exits 0;
``--device cpu --quick`` runs every check on the CPU at small sizes. Every function takes its device, so
that tests/test_gpu_benchmark.py runs the same code on the CPU.
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


# -- 3. timm resnet50: bench's loop against plain PyTorch ----------------------------------------
def synthetic_dataset(n: int, size: int, classes: int, seed: int = 0):
    """``n`` random RGB images of ``size`` pixels as a train split (what ``competition.train()`` returns)."""
    from harness.data.competition import LabeledImages
    from harness.data.datasets import code_values, to_chw_float

    images = np.random.default_rng(seed).integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)
    labels = np.arange(n) % classes
    ids = [f"i{i}" for i in range(n)]

    def load(i):
        return to_chw_float(images[i])

    def codes(i):  # 8-bit pixels, as CIFAR's: resident on the device
        return images[i], code_values(255.0)

    return LabeledImages(ids, (3, size, size), np.arange(n), load, labels, list(range(classes))).with_codes(codes)


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
    from harness.train.loop import on_device, train_one_epoch
    from harness.train.parts import build_parts

    train = on_device(train, device, cfg.train.preload_mb)
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


# -- 2. the small CNN on 42,000 grey 28x28 images: bench's loop against plain PyTorch -----------------
def grey_dataset(n: int, size: int = 28, classes: int = 10, seed: int = 0):
    """``n`` random 8-bit grey images as a train split, held as a dataset of Fashion-MNIST's kind (uint8 codes)."""
    from harness.data.competition import LabeledImages
    from harness.data.datasets import ArrayDataset

    images = np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)
    dataset = ArrayDataset(
        images, np.arange(n) % classes, [f"i{i}" for i in range(n)], [str(c) for c in range(classes)]
    )
    return LabeledImages(
        dataset.item_names,
        dataset.image_shape,
        np.arange(n),
        dataset.load,
        dataset.labels,
        dataset.class_names,
    ).with_codes(dataset.codes)


def small_cnn_config(device: str, settings: dict | None = None):
    """softmax's defaults (small CNN, AdamW, cosine) with the fast kernels; channels-last on CUDA."""
    from harness.pipeline import resolve_run_config

    sets = {
        "train.deterministic": False,
        "train.threads": 0,
        "train.amp": True,
        "train.channels_last": torch.device(device).type == "cuda",
        **(settings or {}),
    }
    return resolve_run_config("softmax", sets=sets, device=device)


def bench_loop_rate(cfg, train, device: torch.device, epochs: int = 1) -> tuple[float, int]:
    """Images/s of bench's epochs as ``fit`` runs them (the set made resident, batch resolved), after one
    untimed epoch (kernels, caches, compilation); and the batch it trained with."""
    from harness.train.batching import resolve_batch_size
    from harness.train.loop import on_device, train_one_epoch
    from harness.train.parts import build_parts

    cfg = resolve_batch_size(cfg.with_seed(0), train, device)
    data = on_device(train, device, cfg.train.preload_mb)
    torch.manual_seed(0)
    parts = build_parts(cfg, data, device)
    train_one_epoch(parts, data, cfg, device, None, "warm-up")
    synchronize(device)
    started = time.perf_counter()
    for epoch in range(epochs):
        train_one_epoch(parts, data, cfg, device, None, f"timed {epoch}")
    synchronize(device)
    batch = int(cfg.train.batch_size)
    return epochs * len(parts.sampler) * batch / (time.perf_counter() - started), batch


def plain_loop_rate(cfg, train, device: torch.device, batch: int, epochs: int = 1) -> float:
    """The same model, loss, optimiser, schedule, precision and memory format in plain PyTorch: the set as
    one float tensor on the device, ``randperm`` batches, no diagnostics."""
    from harness.components import create_loss
    from harness.train.devices import autocast, grad_scaler, memory_format
    from harness.train.model import build_model
    from harness.train.parts import build_optimizer, build_scheduler

    tc, oc = cfg.train, cfg.optim
    fmt = memory_format(tc.channels_last)
    torch.manual_seed(0)
    model = build_model(cfg.components, train.num_classes, device).to(device, memory_format=fmt)
    loss_fn = create_loss(cfg.components["loss"]["name"], num_classes=train.num_classes, in_dim=model.out_dim).to(
        device
    )
    optimizer = build_optimizer(oc, model, {"loss": loss_fn})
    steps = len(train) // batch
    scheduler = build_scheduler(oc, optimizer, (epochs + 1) * steps)
    scaler = grad_scaler(device, tc.amp)
    images = torch.from_numpy(train.load(np.arange(len(train)))).to(device)
    labels = torch.from_numpy(np.asarray(train.labels)).to(device)

    def epoch() -> None:
        order = torch.randperm(len(images), device=device)
        for step in range(steps):
            idx = order[step * batch : (step + 1) * batch]
            x = images.index_select(0, idx).contiguous(memory_format=fmt)
            with autocast(device, tc.amp):
                embeddings = model(x)
            loss = loss_fn(embeddings.float(), labels.index_select(0, idx))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()

    model.train()
    epoch()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(epochs):
        epoch()
    synchronize(device)
    return epochs * steps * batch / (time.perf_counter() - started)


def small_cnn_variants(device: str) -> list[tuple[str, dict]]:
    """The settings compared: the methods' batch, auto, and (on CUDA) each speed setting alone on top of auto."""
    variants = [("batch 32", {"train.batch_size": 32}), ("batch auto", {"train.batch_size": "auto"})]
    if torch.device(device).type == "cuda":
        auto = {"train.batch_size": "auto"}
        variants += [
            ("auto, channels-last off", {**auto, "train.channels_last": False}),
            ("auto, amp off", {**auto, "train.amp": False}),
            ("auto, compile", {**auto, "train.compile": True}),
            ("auto, compile=reduce-overhead", {**auto, "train.compile": "reduce-overhead"}),
        ]
    return variants


def small_cnn_loops(device: str, n: int = 42_000, epochs: int = 1, variants=None, size: int = 28) -> list[dict]:
    """One row per variant: bench's images/s, the plain loop's at the same batch and settings, the ratio."""
    from harness.train.devices import deterministic

    torch_device = torch.device(device)
    train = grey_dataset(n, size)
    rows = []
    plain_cache: dict[tuple, float] = {}
    with deterministic(torch_device, enabled=False):  # the fast kernels, for both loops
        for label, settings in variants or small_cnn_variants(device):
            cfg = small_cnn_config(device, settings)
            bench, batch = bench_loop_rate(cfg, train, torch_device, epochs)
            key = (batch, cfg.train.channels_last, cfg.train.amp)
            if key not in plain_cache:
                plain_cache[key] = plain_loop_rate(cfg, train, torch_device, batch, epochs)
            plain = plain_cache[key]
            rows.append({"setting": label, "batch": batch, "bench": bench, "plain": plain, "ratio": bench / plain})
    return rows


# -- 4. exact search -------------------------------------------------------------------------------
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


# -- 5. Fashion-MNIST end to end -----------------------------------------------------------------
FASHION_METHODS = ("hashnet", "triplet", "softmax")


def fashion_end_to_end(
    root: Path, device: str, sets: list[str] | None = None, methods=FASHION_METHODS, competition="fashion-mnist"
) -> tuple[list[dict], str | None]:
    """``bench run`` of each method on ``competition`` in workspace ``root``: (rows, None), or ([], why not)
    when the competition or its data is absent here."""
    from harness.data.competition import open_competition
    from harness.errors import BenchError
    from harness.pipeline import RunRequest, resolve_run_config, run
    from harness.workspace import Workspace

    workspace = Workspace(root)
    try:
        open_competition(workspace, competition)
    except BenchError as exc:
        return [], f"{competition} is not available here ({exc})"
    rows = []
    for method in methods:
        started = time.perf_counter()
        cfg = resolve_run_config(method, competition=competition, sets=sets or [], device=device)
        result = run(workspace, RunRequest(cfg))
        rows.append(
            {
                "method": method,
                "train_seconds": float(result.row["train_seconds"]),
                "seconds": time.perf_counter() - started,
                "public": float(result.row["public"]),
            }
        )
    return rows, None


# -- 6. DDP through bench run --nproc --------------------------------------------------------------
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
def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> list[str]:
    """Aligned text lines: ``columns`` are (key, heading, format spec)."""
    cells = [[heading for _, heading, _ in columns]]
    cells += [[format(row[key], spec) for key, _, spec in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)} ({torch.cuda.device_count()} device(s))"
    return f"CPU: {os.cpu_count()} core(s), {torch.get_num_threads()} torch thread(s)"


def run_checks(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    print(f"{describe_device(device)}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"settings: {vars(args)}")
    failures = 0

    def check(name: str, title: str, body: Callable[[], list[str]]) -> None:
        nonlocal failures
        if name in args.skip:
            print(f"skip  {title}: --skip {name}")
            return
        started = time.perf_counter()
        try:
            lines = body()
            print(f"ok    {title}  ({time.perf_counter() - started:.1f} s)")
            for line in lines:
                print(f"        {line}")
        except Exception as exc:
            failures += 1
            print(f"FAIL  {title}: {type(exc).__name__}: {exc}")
        sys.stdout.flush()

    def hashnet() -> list[str]:
        with tempfile.TemporaryDirectory() as root:
            result = hashnet_end_to_end(Path(root), args.device, sets=["train.epochs=2"] if args.quick else None)
        if not args.quick and result["public"] < MIN_HASHNET_PUBLIC:
            raise RuntimeError(f"public {result['public']:.4f} is below {MIN_HASHNET_PUBLIC}")
        return [f"public {result['public']:.4f} in {result['seconds']:.1f} s"]

    def small_cnn() -> list[str]:
        rows = small_cnn_loops(args.device, args.small_cnn_images, args.epochs)
        columns = [("setting", "setting", ""), ("batch", "batch", "d"), ("bench", "bench images/s", ",.0f")]
        columns += [("plain", "plain images/s", ",.0f"), ("ratio", "bench/plain", ".2f")]
        return table(rows, columns)

    def resnet() -> list[str]:
        r = training_throughput(args.device, args.model, args.batch, args.steps, args.image_size)
        row = {"model": args.model, "batch": args.batch, **r}
        columns = [("model", "model", ""), ("batch", "batch", "d"), ("bench_images_per_s", "bench images/s", ",.0f")]
        columns += [("plain_images_per_s", "plain images/s", ",.0f"), ("ratio", "bench/plain", ".2f")]
        return table([row], columns)

    def search() -> list[str]:
        r = exact_search_speed(args.device, args.search_queries, args.search_gallery)
        if r["agreement"] < 0.99:
            raise RuntimeError(f"only {r['agreement']:.3f} of the neighbours agree with faiss-cpu")
        return [
            f"bench exact on {args.device} {r['seconds']:.2f} s, faiss-cpu {r['faiss_cpu_seconds']:.2f} s, "
            f"speed-up {r['speedup']:.1f}x, agreement {r['agreement']:.4f}"
        ]

    def fashion() -> list[str]:
        variants = [("defaults", [])] if args.quick else [("defaults", []), ("batch auto", ["train.batch_size=auto"])]
        extra = ["train.epochs=1"] if args.quick else []
        rows = []
        for label, sets in variants:
            with tempfile.TemporaryDirectory() as root:
                found, skipped = fashion_end_to_end(Path(root), args.device, sets=[*sets, *extra])
            if skipped:
                return [f"skipped: {skipped}"]
            rows += [{"settings": label, **row} for row in found]
        columns = [("settings", "settings", ""), ("method", "method", ""), ("train_seconds", "train s", ".1f")]
        columns += [("seconds", "end to end s", ".1f"), ("public", "public map@100", ".4f")]
        return table(rows, columns)

    def ddp() -> list[str]:
        with tempfile.TemporaryDirectory() as root:
            r = ddp_job(Path(root), args.device)
        return [f"one row, public {r['public']:.4f}, {r['seconds']:.1f} s"]

    check("hashnet", "hashnet end to end on digits", hashnet)
    check("small-cnn", f"small CNN on {args.small_cnn_images:,} grey 28x28 images, bench loop vs plain loop", small_cnn)
    check("resnet", f"timm {args.model} training, bench loop vs plain loop", resnet)
    check("search", f"exact search {args.search_queries:,} x {args.search_gallery:,}, bench vs faiss-cpu", search)
    check("fashion", "bench run on fashion-mnist: hashnet, triplet, softmax", fashion)
    if device.type == "cuda" and torch.cuda.device_count() >= 2:
        check("ddp", "bench run --nproc 2 (DDP, nccl)", ddp)
    else:
        print("skip  bench run --nproc 2: needs two GPUs")
    print(f"{failures} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


SIZES = {  # full size (for a GPU), quick (for the CPU)
    "small_cnn_images": (42_000, 512),
    "model": ("resnet50", "resnet18"),
    "batch": (64, 8),
    "steps": (20, 2),
    "image_size": (224, 64),
    "search_queries": (10_000, 1_000),
    "search_gallery": (1_000_000, 20_000),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda (the default where there is one), cuda:N or cpu")
    parser.add_argument("--quick", action="store_true", help="the small sizes, for the CPU")
    parser.add_argument("--skip", action="append", default=[], help="hashnet, small-cnn, resnet, search or fashion")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per loop in the small-CNN check")
    parser.add_argument("--small-cnn-images", type=int, help="images of the small-CNN check (42,000 | quick 512)")
    parser.add_argument("--model", help="timm model of the training check (resnet50 | quick resnet18)")
    parser.add_argument("--batch", type=int, help="batch of the timm check (64 | quick 8)")
    parser.add_argument("--steps", type=int, help="timed steps of the timm check (20 | quick 2)")
    parser.add_argument("--image-size", type=int, help="image size of the timm check (224 | quick 64)")
    parser.add_argument("--search-queries", type=int, help="queries of the search check (10,000 | quick 1,000)")
    parser.add_argument("--search-gallery", type=int, help="gallery of the search check (1,000,000 | quick 20,000)")
    args = parser.parse_args(argv)
    for key, (full, quick) in SIZES.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    if args.device is None:
        if not torch.cuda.is_available():
            print(
                "no CUDA device here: benchmarks/gpu.py checks nothing on this machine (run it where there is a "
                "GPU, or pass --device cpu --quick)"
            )
            return 0
        args.device = "cuda"
    return run_checks(args)


if __name__ == "__main__":
    sys.exit(main())
