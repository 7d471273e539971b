"""Images per second of bench's training loop next to a plain PyTorch loop on the same model,
data and batch size.

    python benchmarks/train_overhead.py [--method hashnet] [--epochs 10] [--repeat 5] [--set k=v ...]

bench's number is ``fit()`` as ``bench run`` calls it: sampler, epoch hooks, the loss term(s),
cosine schedule, and one val evaluation at the end (model selection), timed from start to finish.
The plain loop holds the train set in one tensor and shuffles it with ``torch.randperm``.
Both use the method's thread count and seed. Runs in a temporary workspace. The two loops run in turn
``--repeat`` times and the median of the pairs' ratios is printed: on a shared machine the speed swings
several-fold within a minute, and a pair run back to back sees nearly the same machine. The same
figures follow in CPU seconds (``time.process_time``), which a loaded machine distorts far less than
wall time; bench's CPU seconds count its whole ``fit()`` call, setup and val pass included.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch


def bench_fit(cfg, competition) -> tuple[float, float]:
    """(wall seconds fit() reports, CPU seconds of the whole call)."""
    from harness.train.loop import fit

    cpu = time.process_time()
    result = fit(cfg, competition, "cpu")
    return result.train_seconds, time.process_time() - cpu


def plain_loop(cfg, competition) -> tuple[float, float, int]:
    from harness.components import create_loss
    from harness.train.model import build_model

    train = competition.train()
    images = torch.from_numpy(train.load(np.arange(len(train))))
    labels = torch.from_numpy(np.asarray(train.labels))
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.components, train.num_classes, torch.device("cpu"))
    loss_name, loss_settings = cfg.component("loss")
    loss_fn = create_loss(loss_name, num_classes=train.num_classes, in_dim=model.out_dim, **loss_settings)
    params = list(model.parameters()) + list(loss_fn.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    batch, epochs = cfg.train.batch_size, cfg.train.epochs
    seen = 0
    started, cpu = time.perf_counter(), time.process_time()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images) - batch + 1, batch):
            idx = order[start : start + batch]
            loss = loss_fn(model(images[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(idx)
    return time.perf_counter() - started, time.process_time() - cpu, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="hashnet")
    parser.add_argument("--competition", default="digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="pairs of runs (plain, then bench); the median ratio")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()

    from harness.data.competition import open_competition
    from harness.pipeline import resolve_run_config
    from harness.train.parts import build_sampler
    from harness.workspace import Workspace

    with tempfile.TemporaryDirectory() as root:
        sets = [f"train.epochs={args.epochs}", f"train.eval_every={args.epochs}", *args.sets]
        cfg = resolve_run_config(args.method, competition=args.competition, sets=sets, device="cpu")
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        competition = open_competition(Workspace(os.path.realpath(root)), cfg.competition)
        train_size, batch = len(competition.train()), cfg.train.batch_size
        bench_images = args.epochs * len(build_sampler(cfg, competition.train().labels)) * batch
        wall, cpu = [], []
        for _ in range(max(1, args.repeat)):
            plain_seconds, plain_cpu, plain_images = plain_loop(cfg, competition)
            bench_seconds, bench_cpu = bench_fit(cfg, competition)
            wall.append((bench_images / bench_seconds, plain_images / plain_seconds))
            cpu.append((bench_images / bench_cpu, plain_images / plain_cpu))

    print(
        f"{args.method} on {args.competition}: {args.epochs} epochs, batch {batch}, "
        f"{torch.get_num_threads()} thread(s), {train_size} train images, {len(wall)} pair(s)"
    )
    for unit, pairs in (("wall", wall), ("CPU", cpu)):
        ratios = sorted(bench / plain for bench, plain in pairs)
        bench_rate = float(np.median([bench for bench, _ in pairs]))
        plain_rate = float(np.median([plain for _, plain in pairs]))
        print(f"  bench fit()         {bench_rate:10.0f} images per {unit} s  (median; with setup and 1 val pass)")
        print(f"  plain PyTorch loop  {plain_rate:10.0f} images per {unit} s  (median)")
        spread = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"  ratio bench/plain   {float(np.median(ratios)):10.2f}  ({unit}; median of the pairs: {spread})")


if __name__ == "__main__":
    main()
