"""What the portable pin (train.deterministic, harness.train.isa) costs on the CPU: pinned against unpinned.

    python benchmarks/isa_pin.py [--method hashnet,softmax] [--epochs 10] [--repeats 3] [--set k=v ...]

Each measurement is a fresh process (the pin must be set before torch loads): the method's fit() as
`bench run` calls it, then embedding and searching the competition's queries, timed separately.
Pinned and unpinned processes alternate, ``--repeats`` times each, in one invocation, so both see
the same machine load; the table gives medians and the ratio pinned / unpinned (above 1: slower).
First, the upper bound: one thread's 3x3 convolution step (64 channels, 32x32, batch 32) and a
1024x1024 matmul, where the vector width pays most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = "kernels"
sys.path.insert(0, str(ROOT))


def child(method: str, competition: str, sets: list[str]) -> None:
    """One measurement in this process; prints a JSON line."""
    import torch

    from harness.data.competition import open_competition
    from harness.pipeline import resolve_run_config
    from harness.train.devices import cpu_threads
    from harness.train.loop import fit
    from harness.train.search import embed_and_search
    from harness.workspace import Workspace

    with tempfile.TemporaryDirectory() as root:
        cfg = resolve_run_config(method, competition=competition, sets=sets, device="cpu")
        comp = open_competition(Workspace(os.path.realpath(root)), cfg.competition)
        with cpu_threads(cfg.train.threads):
            result = fit(cfg, comp, torch.device("cpu"))
            started = time.perf_counter()
            embed_and_search(result.model, comp, cfg, torch.device("cpu"))
            search_seconds = time.perf_counter() - started
    isa = torch.backends.cpu.get_cpu_capability()
    print(json.dumps({"isa": isa, "train": result.train_seconds, "embed_search": search_seconds}))


def kernels() -> None:
    """The upper bound: big kernels where vector width pays (a convolution step, a matmul), one thread."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    images = torch.randn(32, 64, 32, 32)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    timings = {}
    for name, step in (("conv", lambda: conv(images).sum().backward()), ("matmul", lambda: a @ b)):
        step()  # warm up (oneDNN compiles its kernels on first use)
        started = time.perf_counter()
        for _ in range(5):
            step()
        timings[name] = (time.perf_counter() - started) / 5
    print(json.dumps({"isa": torch.backends.cpu.get_cpu_capability(), **timings}))


def measure(method: str, competition: str, sets: list[str], pinned: bool) -> dict:
    from harness.train.isa import PINS, pin

    env = {key: value for key, value in os.environ.items() if key not in PINS}
    pin(pinned, env)
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, __file__, "--child", "--method", method, "--competition", competition]
    if method == KERNELS:
        argv = [sys.executable, __file__, "--child", "--kernels"]
    for item in sets:
        argv += ["--set", item]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="hashnet,softmax", help="comma-separated methods")
    parser.add_argument("--competition", default="digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kernels", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kernels() if args.kernels else child(args.method, args.competition, args.sets)
        return
    sets = [f"train.epochs={args.epochs}", f"train.eval_every={args.epochs}", *args.sets]
    print(f"{args.competition}, {args.epochs} epochs, medians of {args.repeats} process(es): unpinned -> pinned")
    runs = {True: [], False: []}
    for _ in range(args.repeats):
        for pinned in (False, True):
            runs[pinned].append(measure(KERNELS, args.competition, [], pinned))
    for name in ("conv", "matmul"):
        unpinned, pinned = (statistics.median(r[name] for r in runs[flag]) for flag in (False, True))
        print(
            f"{name + ' kernel':14} {runs[False][0]['isa'] + ' -> ' + runs[True][0]['isa']:16} "
            f"{unpinned * 1000:.1f} ms -> {pinned * 1000:.1f} ms ({pinned / unpinned:.2f}x)"
        )
    for method in args.method.split(","):
        runs: dict[bool, list[dict]] = {True: [], False: []}
        for _ in range(args.repeats):
            for pinned in (False, True):
                runs[pinned].append(measure(method, args.competition, sets, pinned))
        medians = {
            pinned: {key: statistics.median(r[key] for r in rs) for key in ("train", "embed_search")}
            for pinned, rs in runs.items()
        }
        isa = f"{runs[False][0]['isa']} -> {runs[True][0]['isa']}"
        train_ratio = medians[True]["train"] / medians[False]["train"]
        search_ratio = medians[True]["embed_search"] / medians[False]["embed_search"]
        print(
            f"{method:14} {isa:16} train {medians[False]['train']:.2f} s -> {medians[True]['train']:.2f} s "
            f"({train_ratio:.2f}x)   embed+search {medians[False]['embed_search']:.3f} s -> "
            f"{medians[True]['embed_search']:.3f} s ({search_ratio:.2f}x)"
        )


if __name__ == "__main__":
    main()
